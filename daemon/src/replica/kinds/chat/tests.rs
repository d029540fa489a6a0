//! Tests of `chat`.

use super::*;

fn param(body: &str, endpoint: Endpoint) -> String {
    let r = parse(&Bytes::from(body.to_owned()), endpoint, "m", 16)
        .err()
        .expect("rejected");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    v["error"]["param"].as_str().unwrap().to_owned()
}

#[test]
fn invalid_requests_name_the_parameter() {
    let chat =
        |extra: &str| format!(r#"{{"messages": [{{"role": "user", "content": "hi"}}]{extra}}}"#);
    assert_eq!(param(r#"{"messages": []}"#, Endpoint::Chat), "messages");
    assert_eq!(param(r#"{}"#, Endpoint::Chat), "messages");
    assert_eq!(
        param(
            r#"{"messages": [{"role": "robot", "content": "x"}]}"#,
            Endpoint::Chat
        ),
        "messages[0].role"
    );
    assert_eq!(
        param(&chat(r#", "temperature": 3"#), Endpoint::Chat),
        "temperature"
    );
    assert_eq!(param(&chat(r#", "top_p": 0"#), Endpoint::Chat), "top_p");
    assert_eq!(
        param(&chat(r#", "max_tokens": 0"#), Endpoint::Chat),
        "max_tokens"
    );
    assert_eq!(param(&chat(r#", "n": 2"#), Endpoint::Chat), "n");
    assert_eq!(
        param(
            &chat(r#", "stop": ["a", "b", "c", "d", "e"]"#),
            Endpoint::Chat
        ),
        "stop"
    );
    assert_eq!(
        param(&chat(r#", "temperature": "hot""#), Endpoint::Chat),
        "body"
    );
    let long_stop = format!(r#", "stop": "{}""#, "x".repeat(257));
    assert_eq!(param(&chat(&long_stop), Endpoint::Chat), "stop");
    assert_eq!(param(r#"{"prompt": 5}"#, Endpoint::Completions), "prompt");
}

#[test]
fn defaults_and_content_parts() {
    let call = parse(
        &Bytes::from(r#"{"messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "stop": "x", "stream": true}"#),
        Endpoint::Chat,
        "m",
        16,
    )
    .ok()
    .unwrap();
    let Prompt::Messages(m) = &call.prompt else {
        panic!()
    };
    assert_eq!(
        (m[0].role.as_str(), m[0].content.as_str()),
        ("system", "ab")
    );
    assert_eq!(call.sampling.max_tokens, 16);
    assert_eq!(call.sampling.temperature, 1.0);
    assert_eq!(call.sampling.stop, vec!["x".to_owned()]);
    assert!(call.stream && !call.include_usage);
    assert_eq!(call.model, "m");
}

#[test]
fn another_models_request_is_refused_before_its_messages_are_read() {
    let refused = parse(
        &Bytes::from(r#"{"model": "other", "messages": []}"#),
        Endpoint::Chat,
        "m",
        16,
    )
    .err()
    .expect("refused");
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let v: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(v["error"]["param"], "model", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("serves `m`"),
        "{v}"
    );
    // Its own name, or none, is served.
    for body in [
        r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#,
        r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
    ] {
        assert!(parse(&Bytes::from(body), Endpoint::Chat, "m", 16).is_ok());
    }
}
