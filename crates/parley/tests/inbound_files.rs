//! Files added in Halo reach the chat, against the simulator: a file an agent
//! uploads to a visible action arrives as an attachment the end user can
//! download (same bytes); one on a private action never does; Parley's own
//! upload never comes back; seen by the webhook and the poller, it arrives once.

mod common;

use halo_sim::HaloAction;
use serde_json::Value;

mod inbound_world;

use inbound_world::*;

/// An agent's app client of the simulator, as an agent's tool would use it.
fn agent_client(world: &World) -> halo::HaloClient {
    let site = halo::SiteUrl::parse(&world.sim.url(), halo::HostPolicy::AllowPrivate)
        .unwrap()
        .site;
    let config = halo::HaloConfig::new(site, CLIENT_ID, halo::Secret::new(CLIENT_SECRET));
    halo::HaloClient::new(config).expect("a client")
}

/// An agent writes a note and uploads a file to it: the file's id.
async fn agent_file(
    world: &World,
    ticket: i64,
    text: &str,
    private: bool,
    name: &str,
    data: &[u8],
) -> i64 {
    let action = world
        .sim
        .add_action(
            ticket,
            &HaloAction {
                agent_id: Some(MARCO),
                note: text.to_owned(),
                hiddenfromuser: Some(private),
                ..HaloAction::default()
            },
        )
        .expect("the simulator takes the action");
    let action_id = action["id"].as_i64().expect("the action's id");
    let upload = halo::model::NewAttachment::new(name, "text/plain", data)
        .for_ticket(ticket)
        .on_action(action_id);
    agent_client(world)
        .upload_attachment(&upload)
        .await
        .expect("the upload")
        .id
}

fn files_named(history: &[Value], name: &str) -> Vec<Value> {
    history
        .iter()
        .filter(|m| m["kind"] == "attachment" && m["attachment"]["file_name"] == name)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_agents_file_reaches_the_chat_once_and_private_and_own_files_never_do() {
    let world = World::new(Sources::Both).await;
    let (chat, ticket) = world.linked_chat("The scanner shows an error").await;

    // Parley's own upload: Alice sends a file, the outbox puts it in Halo.
    world
        .alice
        .upload(
            chat,
            "photo.txt",
            "text/plain",
            b"what the screen says".to_vec(),
        )
        .await
        .expect(201);
    world.synced(chat).await;

    agent_file(
        &world,
        ticket,
        "Internal: the lamp log",
        true,
        "internal.txt",
        b"secret",
    )
    .await;
    agent_file(
        &world,
        ticket,
        "Here is the fix.",
        false,
        "fix.txt",
        b"Replace lamp E42\n",
    )
    .await;

    world.arrives(chat, "Here is the fix.").await;
    let message = eventually("the agent's file in the chat", ARRIVES, || async {
        files_named(&world.alice.history(chat).await, "fix.txt")
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(message["author"]["kind"], "technician");
    assert!(message["author"]["id"].is_null());
    assert_eq!(message["author"]["name"], "Marco Rossi");

    // More rounds of webhooks and polls: nothing arrives twice.
    world.agent_note(ticket, "Anything else?", false);
    world.arrives(chat, "Anything else?").await;
    let report = world
        .server
        .running
        .state
        .inbound
        .poll_once()
        .await
        .expect("a poll");
    assert!(report.complete, "{report:?}");
    world
        .server
        .running
        .state
        .inbound
        .process_ticket(ticket)
        .await
        .expect("a pass");

    let history = world.alice.history(chat).await;
    assert_eq!(files_named(&history, "fix.txt").len(), 1, "{history:#?}");
    assert_eq!(
        files_named(&history, "photo.txt").len(),
        1,
        "own file once: {history:#?}"
    );
    assert!(
        files_named(&history, "internal.txt").is_empty(),
        "{history:#?}"
    );
    let tech_history = world.tech.history(chat).await;
    assert!(files_named(&tech_history, "internal.txt").is_empty());

    // The end user downloads the same bytes.
    let id = files_named(&history, "fix.txt")[0]["attachment"]["id"].clone();
    let download = world.alice.get(&format!("/api/v1/attachments/{id}")).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.text(), "Replace lamp E42\n");

    // The file from Halo is not sent back to Halo.
    let in_halo = agent_client(&world)
        .list_attachments(ticket, None)
        .await
        .unwrap();
    assert_eq!(
        in_halo
            .iter()
            .filter(|file| file.filename == "fix.txt")
            .count(),
        1
    );
    assert_eq!(
        in_halo
            .iter()
            .filter(|file| file.filename == "photo.txt")
            .count(),
        1
    );
}
