//! Bad input never takes a call down: forged signatures are refused, and
//! malformed frames are logged, counted and survived.

use std::time::Duration;

use crate::common::*;
use base64::Engine as _;
use frontdesk::simulate::SIM_AUTH_TOKEN;
use frontdesk::twilio::signature::{compute, Algorithm};
use frontdesk::twilio::StreamKey;
use frontdesk_sim::model::ModelScript;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";

/// A `/twilio/voice` form for `CALL_SID` (other tests of this binary use it too).
pub(crate) fn voice_params() -> Vec<(String, String)> {
    [
        ("CallSid", CALL_SID),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+15005550006"),
        ("To", "+15551230000"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn post(url: &str, params: &[(String, String)], signature: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().post(url).form(params);
    if let Some(sig) = signature {
        req = req.header("X-Twilio-Signature", sig);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[actix_rt::test]
async fn webhooks_need_a_valid_signature() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    let url = format!("{}/twilio/voice", rig.base);
    let params = voice_params();
    let good = compute(SIM_AUTH_TOKEN, &url, &params, Algorithm::HmacSha1);

    assert_eq!(
        post(&url, &params, None).await.0,
        403,
        "missing signature accepted"
    );
    let forged = compute("not-the-token", &url, &params, Algorithm::HmacSha1);
    assert_eq!(
        post(&url, &params, Some(&forged)).await.0,
        403,
        "forged signature accepted"
    );
    let mut tampered = params.clone();
    tampered[2].1 = "+19999999999".into();
    assert_eq!(
        post(&url, &tampered, Some(&good)).await.0,
        403,
        "tampered body accepted"
    );
    let (status, body) = post(&url, &params, Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Connect action="), "{body}");

    // The other webhooks are checked too.
    for path in [
        "/twilio/after-stream",
        "/twilio/menu",
        "/twilio/dial-status",
        "/twilio/voicemail",
    ] {
        let url = format!("{}{path}", rig.base);
        assert_eq!(
            post(&url, &params, Some(&good)).await.0,
            403,
            "{path}: signature for another URL accepted"
        );
        let sig = compute(SIM_AUTH_TOKEN, &url, &params, Algorithm::HmacSha1);
        assert_eq!(post(&url, &params, Some(&sig)).await.0, 200, "{path}");
    }
    let metrics = rig.metrics().await;
    assert!(
        metrics.contains("frontdesk_signature_failures_total 7"),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn the_stream_handshake_needs_a_valid_signature() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    let ws_url = rig.base.replacen("http://", "ws://", 1) + "/twilio/stream";
    let connect = |sig: Option<String>| {
        let mut req = ws_url.as_str().into_client_request().unwrap();
        if let Some(s) = sig {
            req.headers_mut()
                .insert("X-Twilio-Signature", s.parse().unwrap());
        }
        tokio_tungstenite::connect_async(req)
    };
    let status = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => 101,
    };
    assert_eq!(status(connect(None).await), 403);
    let forged = compute("wrong", &ws_url, &[], Algorithm::HmacSha1);
    assert_eq!(status(connect(Some(forged)).await), 403);
    let good = compute(SIM_AUTH_TOKEN, &ws_url, &[], Algorithm::HmacSha1);
    assert_eq!(status(connect(Some(good)).await), 101);
}

#[actix_rt::test]
async fn signature_checks_can_be_switched_off_explicitly() {
    let rig = rig(ModelScript::default(), |c| {
        c.server.verify_signatures = false
    })
    .await;
    let (status, _) = post(&format!("{}/twilio/voice", rig.base), &voice_params(), None).await;
    assert_eq!(status, 200);
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", rig.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["signature_verification"], "off");
}

#[actix_rt::test]
async fn malformed_frames_are_counted_and_survived() {
    let rig = rig(
        ModelScript {
            greeting: "Hello there, caller.".into(),
            ..ModelScript::default()
        },
        |_| {},
    )
    .await;
    let url = format!("{}/twilio/voice", rig.base);
    let params = voice_params();
    let sig = compute(SIM_AUTH_TOKEN, &url, &params, Algorithm::HmacSha1);
    assert_eq!(post(&url, &params, Some(&sig)).await.0, 200);

    let ws_url = rig.base.replacen("http://", "ws://", 1) + "/twilio/stream";
    let mut req = ws_url.as_str().into_client_request().unwrap();
    let sig = compute(SIM_AUTH_TOKEN, &ws_url, &[], Algorithm::HmacSha1);
    req.headers_mut()
        .insert("X-Twilio-Signature", sig.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let sid = "MZ0123456789abcdef0123456789abcdef";
    let bad = [
        "this is not json".to_string(),
        r#"{"event":"wobble","streamSid":"MZ1"}"#.to_string(),
        r#"{"no_event":true}"#.to_string(),
        format!(
            r#"{{"event":"media","sequenceNumber":"1","streamSid":"{sid}","media":{{"track":"inbound","chunk":"1","timestamp":"0","payload":"//8="}}}}"#
        ),
    ];
    for b in &bad {
        ws.send(Message::text(b.clone())).await.unwrap();
    }
    ws.send(Message::text(
        r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
    ))
    .await
    .unwrap();
    let token = StreamKey::derive(Some(SIM_AUTH_TOKEN)).token(CALL_SID);
    let start = format!(
        r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"AC00000000000000000000000000000000","streamSid":"{sid}","callSid":"{CALL_SID}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{"from":"+15005550006","to":"+15551230000","token":"{token}"}}}},"streamSid":"{sid}"}}"#
    );
    ws.send(Message::text(start)).await.unwrap();
    let after_start = [
        format!(
            r#"{{"event":"media","sequenceNumber":"2","streamSid":"{sid}","media":{{"track":"inbound","chunk":"1","timestamp":"20","payload":"***not base64***"}}}}"#
        ),
        format!(
            r#"{{"event":"media","sequenceNumber":"3","streamSid":"{sid}","media":{{"track":"inbound","chunk":"x","timestamp":"40","payload":"//8="}}}}"#
        ),
        format!(
            r#"{{"event":"dtmf","sequenceNumber":"4","streamSid":"{sid}","dtmf":{{"track":"inbound_track","digit":"12"}}}}"#
        ),
        format!(
            r#"{{"event":"mark","sequenceNumber":"5","streamSid":"{sid}","mark":{{"name":"not-one-of-ours"}}}}"#
        ),
    ];
    for b in &after_start {
        ws.send(Message::text(b.clone())).await.unwrap();
    }
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();

    // Keep streaming silence, as Twilio does; the greeting must still arrive.
    let silence = base64::engine::general_purpose::STANDARD.encode([0xFFu8; 160]);
    let mut got_audio = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seq = 6;
    while tokio::time::Instant::now() < deadline && !got_audio {
        let frame = format!(
            r#"{{"event":"media","sequenceNumber":"{seq}","streamSid":"{sid}","media":{{"track":"inbound","chunk":"{seq}","timestamp":"{}","payload":"{silence}"}}}}"#,
            seq * 20
        );
        seq += 1;
        ws.send(Message::text(frame)).await.unwrap();
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(20), ws.next()).await
        {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if v["event"] == "media" {
                assert_eq!(v["streamSid"], sid);
                got_audio = true;
            }
        }
    }
    assert!(got_audio, "no greeting after malformed frames");

    let metrics = rig.metrics().await;
    let malformed: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("frontdesk_malformed_frames_total"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    // 4 before start + bad base64 + bad chunk + bad dtmf + binary = 8;
    // the foreign mark is tolerated silently.
    assert_eq!(malformed, 8, "{metrics}");

    // The caller hangs up: an orderly end.
    let stop = format!(
        r#"{{"event":"stop","sequenceNumber":"999","streamSid":"{sid}","stop":{{"accountSid":"AC00000000000000000000000000000000","callSid":"{CALL_SID}"}}}}"#
    );
    ws.send(Message::text(stop)).await.unwrap();
    let ok = rig
        .wait_for_metric("frontdesk_calls_total{outcome=\"caller_hung_up\"} 1")
        .await;
    assert!(ok, "the call did not end as a hang-up");
}

#[actix_rt::test]
async fn control_characters_in_from_never_reach_twiml_or_logs() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    let url = format!("{}/twilio/voice", rig.base);
    let mut params = voice_params();
    params[2].1 = "+1555\u{1b}[2J\u{0}123\u{7}0000\r".into();
    let sig = compute(SIM_AUTH_TOKEN, &url, &params, Algorithm::HmacSha1);
    let (status, body) = post(&url, &params, Some(&sig)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t')),
        "control characters in the TwiML: {body:?}"
    );
    assert!(body.contains("<Stream"), "{body}");
}

#[actix_rt::test]
async fn a_call_sid_must_look_like_one() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    let url = format!("{}/twilio/voice", rig.base);
    for bad in ["CA1", "CA0123456789abcdef0123456789abcdeg", "CA<script>"] {
        let mut params = voice_params();
        params[0].1 = bad.into();
        let sig = compute(SIM_AUTH_TOKEN, &url, &params, Algorithm::HmacSha1);
        let (status, body) = post(&url, &params, Some(&sig)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[actix_rt::test]
async fn readiness_says_not_ready_without_a_model_key() {
    let rig = rig(ModelScript::default(), |c| c.realtime.api_key = None).await;
    let resp = reqwest::get(format!("{}/readyz", rig.base)).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["status"].as_str().unwrap().contains("OPENAI_API_KEY"),
        "{body}"
    );
    let ok = reqwest::get(format!("{}/healthz", rig.base)).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200, "alive all the same");
}

#[actix_rt::test]
async fn readiness_and_metrics_can_leave_the_public_port() {
    let rig = rig(ModelScript::default(), |c| {
        c.server.internal_listen = "127.0.0.1:0".into()
    })
    .await;
    let internal = rig.running.internal_addr.expect("internal listener bound");
    let status = |url: String| async move { reqwest::get(url).await.unwrap().status().as_u16() };
    assert_eq!(status(format!("{}/metrics", rig.base)).await, 404);
    assert_eq!(status(format!("{}/readyz", rig.base)).await, 404);
    assert_eq!(status(format!("{}/healthz", rig.base)).await, 200);
    assert_eq!(status(format!("http://{internal}/metrics")).await, 200);
    assert_eq!(status(format!("http://{internal}/readyz")).await, 200);
}

/// A signed upgrade to `/twilio/stream` (the handshake an attacker may have
/// captured: its signature covers only the fixed URL).
async fn stream_socket(
    base: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let ws_url = base.replacen("http://", "ws://", 1) + "/twilio/stream";
    let mut req = ws_url.as_str().into_client_request().unwrap();
    let sig = compute(SIM_AUTH_TOKEN, &ws_url, &[], Algorithm::HmacSha1);
    req.headers_mut()
        .insert("X-Twilio-Signature", sig.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

fn start_frame(call_sid: &str, token: Option<&str>) -> String {
    let token = token
        .map(|t| format!(r#","token":"{t}""#))
        .unwrap_or_default();
    format!(
        r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"AC00000000000000000000000000000000","streamSid":"MZ00000000000000000000000000000099","callSid":"{call_sid}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{"from":"+15005550006","to":"+15551230000"{token}}}}},"streamSid":"MZ00000000000000000000000000000099"}}"#
    )
}

/// Reads until the server closes the socket; `true` if it did within 5 s.
async fn closed_by_server(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[actix_rt::test]
async fn a_replayed_handshake_reaches_no_call_without_the_call_s_token() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    // An invented call, and a real one (announced by /twilio/voice), each
    // without its token or with another call's: refused, no call opened.
    let url = format!("{}/twilio/voice", rig.base);
    let params = voice_params();
    let sig = compute(SIM_AUTH_TOKEN, &url, &params, Algorithm::HmacSha1);
    assert_eq!(post(&url, &params, Some(&sig)).await.0, 200);
    let other = StreamKey::derive(Some(SIM_AUTH_TOKEN)).token("CA0123456789abcdef0123456789abcdee");
    for (sid, token) in [
        ("CAffffffffffffffffffffffffffffffff", None),
        (CALL_SID, None),
        (CALL_SID, Some(other.as_str())),
        (CALL_SID, Some("forged")),
    ] {
        let mut ws = stream_socket(&rig.base).await;
        ws.send(Message::text(start_frame(sid, token)))
            .await
            .unwrap();
        // Its key presses must not reach the call either.
        let _ = ws
            .send(Message::text(
                r#"{"event":"dtmf","sequenceNumber":"2","streamSid":"MZ00000000000000000000000000000099","dtmf":{"track":"inbound_track","digit":"0"}}"#,
            ))
            .await;
        assert!(
            closed_by_server(&mut ws).await,
            "{sid} {token:?} not refused"
        );
    }
    let metrics = rig.metrics().await;
    assert!(
        metrics.contains("frontdesk_malformed_frames_total{source=\"stream_token\"} 4"),
        "{metrics}"
    );
    // The announced call is still waiting for its real stream: no stream,
    // no key press ever reached it.
    assert!(!metrics.contains("outcome=\"voicemail\""), "{metrics}");
}

#[actix_rt::test]
async fn a_second_stream_for_a_live_call_is_refused_and_the_caller_keeps_the_call() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    let url = format!("{}/twilio/voice", rig.base);
    let params = voice_params();
    let sig = compute(SIM_AUTH_TOKEN, &url, &params, Algorithm::HmacSha1);
    let (_, twiml) = post(&url, &params, Some(&sig)).await;
    let token = StreamKey::derive(Some(SIM_AUTH_TOKEN)).token(CALL_SID);
    assert!(twiml.contains(&token), "{twiml}");

    // The real stream takes the call and hears the greeting.
    let mut real = stream_socket(&rig.base).await;
    real.send(Message::text(start_frame(CALL_SID, Some(&token))))
        .await
        .unwrap();
    let mut greeted = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !greeted && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(200), real.next()).await
        {
            greeted = t.as_str().contains(r#""event":"media""#);
        }
    }
    assert!(greeted, "the real stream got no audio");

    // Even with the right token, a second stream is refused…
    let mut second = stream_socket(&rig.base).await;
    second
        .send(Message::text(start_frame(CALL_SID, Some(&token))))
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut second).await,
        "second stream not refused"
    );
    // …and the real one still has the call.
    let still = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Ok(Message::Text(t))) = real.next().await {
                if t.as_str().contains(r#""event":"media""#) || t.as_str().contains("mark") {
                    return true;
                }
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(still, "the caller lost the call's audio");
}

#[actix_rt::test]
async fn a_socket_without_a_valid_start_is_closed_even_if_it_pings() {
    let rig = rig(ModelScript::default(), |c| {
        c.server.stream_start_deadline_ms = 300
    })
    .await;
    let mut ws = stream_socket(&rig.base).await;
    let started = tokio::time::Instant::now();
    let pinging = async {
        loop {
            if ws.send(Message::Ping(vec![1].into())).await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(50), ws.next()).await {
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), pinging)
        .await
        .expect("the socket stayed open");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn a_model_frame_over_a_mebibyte_is_refused_and_the_call_goes_on() {
    use frontdesk_sim::caller::{place_call, CallerStep};
    use frontdesk_sim::model::ConnectionBehavior;
    // 16 MiB: refused from the frame header, never buffered; the
    // connection counts as failed and a fresh one serves the call.
    let script = ModelScript {
        connections: vec![ConnectionBehavior::OversizedFrame {
            bytes: 16 * 1024 * 1024,
        }],
        ..ModelScript::default()
    };
    let rig = rig(script, |_| {}).await;
    let report = place_call(
        &rig.base,
        caller(vec![
            CallerStep::WaitForAudio { timeout_ms: 10_000 },
            CallerStep::HangUp,
        ]),
    )
    .await
    .unwrap();
    let t = report.timeline_text();
    assert!(report.greeting_latency.is_some(), "no greeting: {t}");
    assert!(report.step_timeouts.is_empty(), "{t}");
    assert_eq!(rig.model.record().connections.len(), 2, "{t}");
    let metrics = rig.metrics().await;
    assert!(
        metrics.contains("frontdesk_model_restarts_total 1"),
        "{metrics}"
    );
}
