//! Clients, sites and users (contacts).
//!
//! Number quirks reproduced from captured responses: a site's `client_id` is a
//! double (`21.0`), and a user carries `site_id` as a double beside an integer
//! `site_id_int`, while its `client_id` is an integer.

use serde_json::{Value, json};

use super::merge;
use crate::quirks::dates;
use crate::store::{Client, Site, Store, User};

/// A client (`/api/Client`).
pub fn client(store: &Store, client: &Client) -> Value {
    let main_site = store
        .sites
        .get(&client.main_site_id)
        .map_or("", |site| site.name.as_str());

    json!({
        "id": client.id,
        "name": client.name,
        "toplevel_id": 1,
        "toplevel_name": "Top Level",
        "inactive": client.inactive,
        "colour": client.colour,
        "main_site_id": client.main_site_id,
        "main_site_name": main_site,
        "notes": client.notes,
        "website": client.website,
        "is_vip": client.is_vip,
        "accountsid": "",
        "messagegroup_id": -1,
        "mailbox_override": -1,
        "default_mailbox_id": 0,
        "linked_organisation_id": 1,
        "datecreated": dates::local(client.created),
        "customfields": [],
        "custombuttons": [],
    })
}

/// A site (`/api/Site`); `client_id` is a double, as Halo sends it.
pub fn site(store: &Store, site: &Site) -> Value {
    let client_name = store
        .clients
        .get(&site.client_id)
        .map_or("", |client| client.name.as_str());

    json!({
        "id": site.id,
        "name": site.name,
        "client_id": site.client_id as f64,
        "client_name": client_name,
        "clientsite_name": format!("{client_name}/{}", site.name),
        "inactive": site.inactive,
        "sla_id": site.sla_id,
        "phonenumber": site.phonenumber,
        "colour": "#2bd3c6",
        "timezone": "",
        "isinvoicesite": true,
        "isstocklocation": false,
        "messagegroup_id": -1,
        "maincontact_id": 0,
        "maincontact_name": "",
        "datecreated": dates::local(site.created),
        "contractlastchecked": dates::UNSET_1899,
        "linked_organisation_id": 1,
    })
}

/// A user as listed by `GET /api/Users` (the captured search-result item).
pub fn user_summary(store: &Store, user: &User) -> Value {
    let site = store.sites.get(&user.site_id);
    let client = store.client_of_site(user.site_id);
    let initials: String = [&user.firstname, &user.surname]
        .iter()
        .filter_map(|part| part.chars().next())
        .collect();

    json!({
        "id": user.id,
        "name": user.name,
        "site_id": user.site_id as f64,
        "site_id_int": user.site_id,
        "site_name": site.map_or("", |site| site.name.as_str()),
        "client_id": client.map_or(0, |client| client.id),
        "client_name": client.map_or("", |client| client.name.as_str()),
        "firstname": user.firstname,
        "surname": user.surname,
        "initials": initials.to_uppercase(),
        "emailaddress": user.emailaddress,
        "phonenumber": user.phonenumber,
        "sitephonenumber": site.map_or("", |site| site.phonenumber.as_str()),
        "telpref": 0,
        "inactive": user.inactive,
        "colour": "#2bd3c6",
        "isimportantcontact": user.is_important,
        "other5": "",
        "neversendemails": false,
        "priority_id": 0,
        "linked_agent_id": 0,
        "isserviceaccount": false,
        "use": "user",
    })
}

/// A user as `GET /api/Users/{id}` returns one, with its site nested.
pub fn user(store: &Store, user: &User) -> Value {
    let Value::Object(mut object) = user_summary(store, user) else {
        return Value::Null;
    };

    merge(
        &mut object,
        json!({
            "ischangeapprover2": false,
            "isimportantcontact2": false,
            "customfields": [],
            "custombuttons": [],
            "connectwiseid": 0,
            "autotaskid": -1,
            "messagegroup_id": -1,
            "sitetimezone": "",
            "datecreated": dates::local(user.created),
            "dontackemails": false,
            "web_access_level": 0,
            "showmeonly": 0,
            "showrecentonly": 0,
            "inform": false,
            "canadd": true,
            "ischangeapprover": false,
            "cancreateuser": false,
            "isheadofdept": false,
            "cataloglevel": 1,
            "canaccesscatalog": true,
            "encmethod": 1,
            "adconnection": -1,
            "useadlogin": 0,
        }),
    );
    merge(
        &mut object,
        json!({
            "ismaincontact": false,
            "organisation_id": 1,
            "delegation_activated": false,
            "delegation_start": dates::UNSET_1899,
            "delegation_end": dates::UNSET_1899,
            "delegation_user_id": 0,
            "ulastupdate": dates::local(user.updated),
            "locked": false,
            "azure_tenant_id": "",
            "azure_last_login_date": dates::UNSET_1899,
            "linked_user_id": 0,
            "unsubscribed": false,
            "external_links": [],
        }),
    );
    if let Some(site) = store.sites.get(&user.site_id) {
        object.insert("site".to_owned(), self::site(store, site));
    }
    Value::Object(object)
}

/// A user nested in a ticket: the summary plus a few flags, no nested site.
pub fn ticket_user(store: &Store, user: &User) -> Value {
    let Value::Object(mut object) = user_summary(store, user) else {
        return Value::Null;
    };

    merge(
        &mut object,
        json!({
            "ischangeapprover2": false,
            "customfields": [],
            "autotaskid": -1,
            "messagegroup_id": -1,
            "datecreated": dates::local(user.created),
        }),
    );
    Value::Object(object)
}
