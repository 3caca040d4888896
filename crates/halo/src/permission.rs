//! Which Halo API permission (OAuth scope) each call needs.
//!
//! One table, used by the client to explain a 403 and by the simulator to decide
//! whether to refuse a call, so that the two can never disagree about it.

use std::fmt;

/// A permission Parley asks Halo for. Halo calls them scopes on the token
/// endpoint and "permissions" on the application's page in its admin UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ReadTickets,
    EditTickets,
    ReadCustomers,
    ReadCrm,
}

impl Permission {
    /// Every permission Parley needs, in the order the connection doctor checks them.
    pub const ALL: [Permission; 4] = [
        Permission::ReadTickets,
        Permission::EditTickets,
        Permission::ReadCustomers,
        Permission::ReadCrm,
    ];

    /// The scope name as Halo spells it.
    pub fn scope(self) -> &'static str {
        match self {
            Permission::ReadTickets => "read:tickets",
            Permission::EditTickets => "edit:tickets",
            Permission::ReadCustomers => "read:customers",
            Permission::ReadCrm => "read:crm",
        }
    }

    /// Whether a token granted `scopes` holds this permission.
    ///
    /// `all` grants everything, and an `edit:` scope implies its `read:` twin, as
    /// a live Halo tenant showed (see the evidence file, section 1.2).
    pub fn is_granted_by<'a>(self, scopes: impl IntoIterator<Item = &'a str>) -> bool {
        scopes.into_iter().any(|scope| {
            let scope = scope.trim();
            scope.eq_ignore_ascii_case("all")
                || scope.eq_ignore_ascii_case(self.scope())
                || (self == Permission::ReadTickets
                    && scope.eq_ignore_ascii_case(Permission::EditTickets.scope()))
        })
    }

    /// The permission a call needs, from its HTTP method and the first path segment
    /// after `/api/` (`Tickets`, `actions`, ...; matched case-insensitively as Halo
    /// does). `None` means the call needs no permission from this table (for example
    /// `AuthInfo`, which is anonymous) or is not one Parley makes.
    pub fn required_for(method: &str, resource: &str) -> Option<Permission> {
        let resource = resource.to_ascii_lowercase();
        let is_write = !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD");

        match resource.as_str() {
            "tickets" | "actions" | "attachment" if is_write => Some(Permission::EditTickets),
            "tickets" | "actions" | "attachment" | "status" | "tickettype" | "priority"
            | "outcome" => Some(Permission::ReadTickets),
            "client" | "site" => Some(Permission::ReadCustomers),
            "users" | "agent" => Some(Permission::ReadCrm),
            _ => None,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scope())
    }
}

/// The scopes Parley requests when none are configured.
pub const DEFAULT_SCOPES: &str = "read:tickets edit:tickets read:customers read:crm";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_tickets_implies_read_tickets_but_not_the_reverse() {
        assert!(Permission::ReadTickets.is_granted_by(["edit:tickets"]));
        assert!(!Permission::EditTickets.is_granted_by(["read:tickets"]));
    }

    #[test]
    fn all_grants_every_permission() {
        for permission in Permission::ALL {
            assert!(permission.is_granted_by(["all"]), "{permission}");
        }
    }

    #[test]
    fn the_table_matches_the_issue() {
        use Permission::*;
        let cases = [
            ("GET", "Tickets", Some(ReadTickets)),
            ("get", "actions", Some(ReadTickets)),
            ("GET", "Attachment", Some(ReadTickets)),
            ("GET", "Status", Some(ReadTickets)),
            ("GET", "TicketType", Some(ReadTickets)),
            ("GET", "Priority", Some(ReadTickets)),
            ("GET", "Outcome", Some(ReadTickets)),
            ("POST", "Tickets", Some(EditTickets)),
            ("POST", "Actions", Some(EditTickets)),
            ("POST", "attachment", Some(EditTickets)),
            ("GET", "Client", Some(ReadCustomers)),
            ("GET", "SITE", Some(ReadCustomers)),
            ("GET", "Users", Some(ReadCrm)),
            ("GET", "Agent", Some(ReadCrm)),
            ("GET", "AuthInfo", None),
        ];
        for (method, resource, expected) in cases {
            assert_eq!(
                Permission::required_for(method, resource),
                expected,
                "{method} {resource}"
            );
        }
    }
}
