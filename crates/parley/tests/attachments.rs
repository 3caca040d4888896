//! Attachment stories: a file over the size limit or of a type not on the
//! allow-list is refused with the code that says so and nothing is stored;
//! a file that is allowed downloads as the same bytes, as a download that a
//! browser will not run.

mod common;

use common::{Party, TestServer, WAIT};

/// Small, so that "over the limit" is quick to send.
const LIMIT: usize = 4 * 1024;

struct Chat {
    server: TestServer,
    alice: Party,
    tech: Party,
    id: i64,
}

async fn chat() -> Chat {
    let server = TestServer::start_with(|config| config.limits.max_attachment_bytes = LIMIT).await;
    let alice = server.end_user("alice@northwind.example", "Alice").await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let (id, _) = alice.start_conversation("Here is the error").await;
    Chat {
        server,
        alice,
        tech,
        id,
    }
}

/// Fails unless nothing new is in the conversation and no attachment exists.
async fn nothing_stored(chat: &Chat) {
    assert_eq!(chat.tech.history(chat.id).await.len(), 1);
    assert_eq!(chat.alice.history(chat.id).await.len(), 1);
    for id in 1..=3 {
        let download = chat.tech.get(&format!("/api/v1/attachments/{id}")).await;
        assert_eq!(download.status, 404, "attachment {id} exists");
    }
}

#[tokio::test]
async fn a_file_just_over_the_limit_is_refused_as_too_large() {
    let chat = chat().await;

    let refused = chat
        .alice
        .upload(chat.id, "big.txt", "text/plain", vec![b'a'; LIMIT + 1])
        .await;

    assert_eq!(refused.status, 413, "{}", refused.text());
    assert_eq!(refused.error_code(), "too_large");
    assert!(refused.error_message().contains(&LIMIT.to_string()));
    nothing_stored(&chat).await;
}

#[tokio::test]
async fn a_file_far_over_the_limit_is_refused_before_it_is_read_whole() {
    let chat = chat().await;

    // Beyond the request body limit (the file limit plus multipart framing).
    let refused = chat
        .alice
        .upload(
            chat.id,
            "huge.zip",
            "application/zip",
            vec![0; LIMIT + 200 * 1024],
        )
        .await;

    assert_eq!(refused.status, 413, "{}", refused.text());
    assert_eq!(refused.error_code(), "too_large");
    nothing_stored(&chat).await;
}

#[tokio::test]
async fn a_file_of_a_type_not_allowed_is_refused_as_unsupported() {
    let chat = chat().await;

    for content_type in ["text/html", "application/x-msdownload", "image/svg+xml"] {
        let refused = chat
            .alice
            .upload(
                chat.id,
                "payload",
                content_type,
                b"<script>alert(1)</script>".to_vec(),
            )
            .await;

        assert_eq!(refused.status, 415, "{content_type}: {}", refused.text());
        assert_eq!(refused.error_code(), "unsupported_type");
        assert!(refused.error_message().contains(content_type));
    }
    nothing_stored(&chat).await;
}

#[tokio::test]
async fn a_technicians_upload_is_held_to_the_same_rules() {
    let chat = chat().await;

    let too_large = chat
        .tech
        .upload(chat.id, "big.pdf", "application/pdf", vec![b'%'; LIMIT + 1])
        .await;
    let unsupported = chat
        .tech
        .upload(
            chat.id,
            "tool.exe",
            "application/x-msdownload",
            b"MZ".to_vec(),
        )
        .await;

    assert_eq!(too_large.status, 413);
    assert_eq!(unsupported.status, 415);
    nothing_stored(&chat).await;
}

#[tokio::test]
async fn an_allowed_file_downloads_as_the_same_bytes_and_never_as_a_page() {
    let chat = chat().await;
    let (mut techs_socket, _) = chat.tech.socket(0).await;
    let bytes = b"Event 1001: Outlook stopped\r\n".to_vec();

    let sent = chat
        .alice
        .upload(
            chat.id,
            "C:\\Logs\\event \"log\".txt",
            "text/plain; charset=utf-8",
            bytes.clone(),
        )
        .await
        .expect(201);

    assert_eq!(sent["kind"], "attachment");
    let attachment = &sent["attachment"];
    assert_eq!(attachment["file_name"], "event log.txt");
    assert_eq!(attachment["content_type"], "text/plain");
    assert_eq!(attachment["size"], bytes.len());
    let url = attachment["url"].as_str().unwrap();
    assert_eq!(url, format!("/api/v1/attachments/{}", attachment["id"]));

    for party in [&chat.alice, &chat.tech] {
        let download = party.get(url).await;
        assert_eq!(download.status, 200);
        assert_eq!(download.body, bytes);
        assert_eq!(download.header("content-type"), Some("text/plain"));
        assert_eq!(
            download.header("content-disposition"),
            Some(r#"attachment; filename="event log.txt""#)
        );
        assert_eq!(download.header("x-content-type-options"), Some("nosniff"));
        assert!(
            download
                .header("content-security-policy")
                .is_some_and(|csp| csp.contains("sandbox"))
        );
    }

    // The technician's socket announced it live, and the history has it.
    let live = techs_socket.next_event_of_type("message", WAIT).await;
    assert_eq!(live["message"]["attachment"]["id"], attachment["id"]);
    assert_eq!(chat.alice.history(chat.id).await.len(), 2);
}

#[tokio::test]
async fn an_upload_without_a_file_field_is_invalid() {
    let chat = chat().await;

    let form = reqwest::multipart::Form::new().text("note", "no file here");
    let answer = common::http()
        .post(
            chat.server
                .url(&format!("/api/v1/conversations/{}/attachments", chat.id)),
        )
        .bearer_auth(chat.alice.access_token().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();

    assert_eq!(answer.status(), 400);
    nothing_stored(&chat).await;
}
