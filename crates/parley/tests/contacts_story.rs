//! Matching end users to Halo contacts, told as a story against the
//! simulator's demo seed: a unique email matches, the email two clients share
//! and an unknown email land in the "needs a contact" queue, a technician's
//! pick sticks through refreshes, a General User can be picked, an inactive
//! user never matches, and a chat never waits on Halo (lookups run in the
//! background, one at a time per end user, and not again right after Halo
//! failed).

use std::sync::Arc;
use std::time::Duration;

use halo::{HaloConfig, HostPolicy, RetryPolicy, Secret, SiteUrl, UserQuery};
use halo_sim::{App, Faults, RunningSim, Seed, SimConfig, Simulator};
use parley::psa::{
    Contacts, ContactsConfig, ContactsError, HaloPsa, MatchRule, MatchState, NeedsReason, Psa,
    PsaError, TicketDefaults,
};
use parley::store::{EndUser, NewEndUser, Store};
use parley::testing::TestDatabase;

const PARLEY: &str = "parley:parley-secret-1234:read:tickets edit:tickets read:customers read:crm";

struct World {
    sim: RunningSim,
    psa: Arc<HaloPsa>,
    store: Arc<dyn Store>,
    workspace: i64,
    _db: TestDatabase,
}

impl World {
    async fn new() -> Self {
        let sim = Simulator::start(
            "127.0.0.1:0".parse().expect("an address"),
            SimConfig {
                seed: Seed::Demo,
                apps: vec![App::parse(PARLEY).expect("a valid app spec")],
                ..SimConfig::default()
            },
        )
        .await
        .expect("the simulator starts");

        let site = SiteUrl::parse(&sim.url(), HostPolicy::AllowPrivate)
            .unwrap()
            .site;
        let mut config = HaloConfig::new(site, "parley", Secret::new("parley-secret-1234"));
        config.retry = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
            max_elapsed: Duration::from_secs(2),
        };
        let psa = Arc::new(HaloPsa::new(config, TicketDefaults::default()).unwrap());

        let db = TestDatabase::sqlite();
        let store: Arc<dyn Store> = Arc::from(db.open().await.expect("a test database"));
        let workspace = store.default_workspace("widget-secret").await.unwrap().id;

        World {
            sim,
            psa,
            store,
            workspace,
            _db: db,
        }
    }

    fn contacts(&self, config: ContactsConfig) -> Contacts {
        Contacts::new(Arc::clone(&self.store), self.psa.clone(), config)
    }

    async fn end_user(&self, email: &str, name: &str) -> EndUser {
        self.store
            .upsert_end_user(NewEndUser {
                workspace_id: self.workspace,
                email: email.to_owned(),
                name: name.to_owned(),
                subject: None,
            })
            .await
            .unwrap()
    }

    fn user_lookups(&self) -> u64 {
        self.sim.requests_to("GET", "users")
    }
}

fn reason(state: &MatchState) -> Option<NeedsReason> {
    match state {
        MatchState::NeedsContact(needs) => Some(needs.reason),
        _ => None,
    }
}

#[tokio::test]
async fn end_users_are_matched_queued_and_resolved_by_a_technician() {
    let world = World::new().await;
    let contacts = world.contacts(ContactsConfig::default());
    let alice = world
        .end_user("alice.carter@northwind.example", "Alice")
        .await;
    let sam = world.end_user("sam.jones@consultants.example", "Sam").await;
    let stranger = world.end_user("pat@unknown.example", "Pat").await;
    let dan = world.end_user("dan.gone@contoso.example", "Dan").await;

    // The first chat answers at once, before Halo was asked; the lookup runs
    // in the background.
    let first = contacts.match_for(&alice).await.unwrap();
    assert_eq!(first, MatchState::Pending);
    assert!(first.explanation().unwrap().contains("You can chat"));
    assert!(contacts.settled(&alice, Duration::from_secs(5)).await);
    let matched = contacts.match_for(&alice).await.unwrap();
    let MatchState::Matched(found) = &matched else {
        panic!("alice matches by email: {matched:?}");
    };
    assert_eq!(found.rule, MatchRule::Email);
    assert_eq!(found.contact.name, "Alice Carter");
    assert_eq!(found.contact.client_name, "Northwind Traders");
    assert!(found.matched_at > 0 && found.chosen_by.is_none());
    assert!(matched.explanation().is_none());

    // The same email at two clients is never guessed.
    let shared = contacts.refresh_now(&sam).await.unwrap();
    assert_eq!(reason(&shared), Some(NeedsReason::SeveralClients));
    assert!(shared.contact().is_none());
    // An unknown email and an inactive contact's email wait too.
    let unknown = contacts.refresh_now(&stranger).await.unwrap();
    assert_eq!(reason(&unknown), Some(NeedsReason::NoContact));
    let inactive = contacts.refresh_now(&dan).await.unwrap();
    assert_eq!(
        reason(&inactive),
        Some(NeedsReason::NoContact),
        "an inactive user never matches"
    );
    for state in [&shared, &unknown, &inactive] {
        let view = state.end_user_view();
        assert!(!view.linked);
        assert!(view.explanation.unwrap().contains("a technician will"));
    }

    let queue = contacts.queue(world.workspace, 50).await.unwrap();
    let queued: Vec<&str> = queue.iter().map(|entry| entry.email.as_str()).collect();
    assert_eq!(
        queued,
        [
            "sam.jones@consultants.example",
            "pat@unknown.example",
            "dan.gone@contoso.example"
        ]
    );
    let mut clients: Vec<&str> = queue[0]
        .needs
        .candidates
        .iter()
        .map(|c| c.client_name.as_str())
        .collect();
    clients.sort_unstable();
    assert_eq!(clients, ["Contoso Ltd", "Northwind Traders"]);

    // The technician searches Halo and picks Sam at Contoso.
    let found = contacts.search("Sam Jones").await.unwrap();
    let contoso_sam = found
        .iter()
        .find(|c| c.client_name == "Contoso Ltd")
        .expect("Sam at Contoso")
        .clone();
    let chosen = contacts
        .choose_contact(&sam, contoso_sam.id, "Tess Tech <tess@msp.example>")
        .await
        .unwrap();
    let MatchState::Matched(pick) = &chosen else {
        panic!("chosen: {chosen:?}");
    };
    assert_eq!(pick.rule, MatchRule::Technician);
    assert_eq!(
        pick.chosen_by.as_deref(),
        Some("Tess Tech <tess@msp.example>")
    );

    // The pick sticks: a refresh neither changes it nor asks Halo, and it
    // never goes stale.
    let lookups = world.user_lookups();
    assert_eq!(contacts.refresh_now(&sam).await.unwrap(), chosen);
    assert_eq!(contacts.match_for(&sam).await.unwrap(), chosen);
    assert!(!contacts.is_refreshing(&sam));
    assert_eq!(world.user_lookups(), lookups);

    // The unknown user gets their client's General User.
    let northwind = world
        .psa
        .contacts_by_email("alice.carter@northwind.example")
        .await
        .unwrap()[0]
        .client_id;
    let general = contacts
        .choose_catch_all(&stranger, northwind, "Tess Tech <tess@msp.example>")
        .await
        .unwrap();
    let MatchState::Matched(general) = general else {
        panic!("matched to the General User");
    };
    assert!(general.catch_all);
    assert_eq!(general.contact.name, "General User");
    assert_eq!(general.contact.client_id, northwind);

    // An inactive contact cannot be picked either.
    let dan_id = world
        .psa
        .client()
        .list_users(&UserQuery {
            search: Some("dan.gone".to_owned()),
            include_inactive: true,
            ..UserQuery::default()
        })
        .await
        .unwrap()[0]
        .id;
    let refused = contacts
        .choose_contact(&dan, dan_id, "Tess Tech")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ContactsError::Psa(PsaError::NotFound(_))),
        "{refused:?}"
    );

    let queue = contacts.queue(world.workspace, 50).await.unwrap();
    let queued: Vec<&str> = queue.iter().map(|entry| entry.email.as_str()).collect();
    assert_eq!(queued, ["dan.gone@contoso.example"]);
    let audit = world.store.audit_log(world.workspace, 10).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|entry| entry.action == "contact.chosen")
            .count(),
        2
    );

    // Forgetting a pick goes back to the email rule.
    contacts.forget(&sam, "Tess Tech").await.unwrap();
    assert_eq!(contacts.match_for(&sam).await.unwrap(), MatchState::Pending);
    assert!(contacts.settled(&sam, Duration::from_secs(5)).await);
    let again = contacts.match_for(&sam).await.unwrap();
    assert_eq!(reason(&again), Some(NeedsReason::SeveralClients));
}

#[tokio::test]
async fn a_burst_of_chats_starts_one_lookup_and_a_failed_one_is_not_hammered() {
    let world = World::new().await;
    // Every match is stale at once, so each call wants a refresh.
    let contacts = world.contacts(ContactsConfig {
        ttl: Duration::ZERO,
        retry_after_failure: Duration::from_secs(60),
    });
    let alice = world
        .end_user("alice.carter@northwind.example", "Alice")
        .await;
    world.psa.search_contacts("warm up").await.unwrap();

    world.sim.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let lookups = world.user_lookups();
    for _ in 0..5 {
        assert_eq!(
            contacts.match_for(&alice).await.unwrap(),
            MatchState::Pending
        );
    }
    assert!(contacts.settled(&alice, Duration::from_secs(5)).await);
    assert_eq!(
        world.user_lookups() - lookups,
        1,
        "one lookup for the burst"
    );
    assert!(contacts.match_for(&alice).await.unwrap().is_matched());
    assert!(contacts.settled(&alice, Duration::from_secs(5)).await);

    // Halo goes down: the stored match stays, and after one failed lookup
    // the next chats do not ask again for a while.
    world.sim.set_faults(Faults {
        fail_next: Some((100, 503)),
        ..Faults::default()
    });
    let failed = contacts.refresh_now(&alice).await.unwrap_err();
    assert!(matches!(
        failed,
        ContactsError::Psa(PsaError::Transient { .. })
    ));
    let lookups = world.user_lookups();
    for _ in 0..3 {
        assert!(contacts.match_for(&alice).await.unwrap().is_matched());
    }
    assert!(contacts.settled(&alice, Duration::from_secs(5)).await);
    assert_eq!(
        world.user_lookups(),
        lookups,
        "no lookup right after a failure"
    );
}
