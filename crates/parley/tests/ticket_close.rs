//! Closing a chat can close its ticket in Halo too: a technician's choice,
//! queued with the close and sent by the outbox.

mod common;
mod sync_world;

use serde_json::json;
use std::time::Duration;
use sync_world::{ALICE, eventually, linked, simulator, ticket_id};

const SETTLE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_technician_closes_the_chat_and_its_ticket() {
    let sim = simulator(|_| {}).await;
    let server = sync_world::parley(&sim, parley::server::Options::default()).await;
    let alice = server.end_user(ALICE, "Alice Carter").await;
    let tess = server.technician("tess@msp.example", "Tess Tech").await;
    let (chat, _) = alice.start_conversation("The plotter is offline").await;
    linked(&alice).await;
    alice
        .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await
        .expect(202);
    let ticket = ticket_id(&alice, chat, SETTLE).await;
    let open_status = sim.ticket(ticket).expect("the ticket")["status_id"].clone();

    // The end user may close the chat, never the ticket.
    alice
        .post(
            &format!("/api/v1/conversations/{chat}/close"),
            json!({ "close_ticket": true }),
        )
        .await
        .expect(403);
    assert_eq!(
        sim.ticket(ticket).expect("the ticket")["status_id"],
        open_status
    );

    tess.post(
        &format!("/api/v1/conversations/{chat}/close"),
        json!({ "close_ticket": true }),
    )
    .await
    .expect(200);

    // The demo seed's "Closed" status is the connector's default closed status.
    eventually("the ticket to close in Halo", SETTLE, || async {
        (sim.ticket(ticket)?["status_id"] == 9).then_some(())
    })
    .await;
}
