//! Cross-checks the Standard Webhooks code (`frontdesk_wire::standard_webhooks`,
//! used by `POST /openai/webhook` and by the OpenAI simulator) against the
//! official `openai` SDK's `client.webhooks.unwrap`, run through
//! `tests/oracles/py/openai_webhook.py` in the pinned Python venv.
//!
//! Generated vectors: random `whsec_` and plain secrets, ids, bodies with
//! non-ASCII text, timestamps inside and outside the 300 s window, several
//! listed signatures, tampered bodies and ids. Every case must get the same
//! verdict from both, and every signature we make must be one the SDK accepts.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use frontdesk_wire::standard_webhooks::{SigningKey, DEFAULT_TOLERANCE_SECS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn python() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("FRONTDESK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target/pytools/bin/python"));
    assert!(
        python.is_file(),
        "Python for the openai SDK oracle not found at {}. Set it up with scripts/pytools.sh (or set FRONTDESK_PYTHON)",
        python.display()
    );
    python
}

fn sdk_verdicts(cases: &[Value]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/py/openai_webhook.py");
    let mut child = Command::new(python())
        .arg(&script)
        .env("PYTHONUTF8", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(cases).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn random_text(rng: &mut StdRng) -> String {
    const PIECES: &[&str] = &[
        "a", "Z", "9", " ", "\"", "\\n", "é", "日本", "🙂", ".", ",", "v1,",
    ];
    (0..rng.random_range(0..40))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

#[test]
fn webhook_signatures_agree_with_the_openai_sdk() {
    let mut rng = StdRng::seed_from_u64(0x5150);
    let now = chrono::Utc::now().timestamp();
    let mut cases = Vec::new();
    for i in 0..400 {
        let key: Vec<u8> = (0..rng.random_range(16..48))
            .map(|_| rng.random())
            .collect();
        let secret = if i % 5 == 0 {
            format!("plain-{}", random_text(&mut rng))
        } else {
            format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(&key)
            )
        };
        let id = format!("wh_{:032x}", rng.random::<u128>());
        let body = json!({
            "object": "event",
            "id": format!("evt_{i}"),
            "type": "realtime.call.incoming",
            "created_at": now,
            "data": {"call_id": format!("rtc_{i}"), "note": random_text(&mut rng)},
        })
        .to_string();
        // Inside the window, at its edges (a few seconds of slack for the
        // time the SDK runs later), and outside it either way.
        let ts = match i % 6 {
            0 => now - DEFAULT_TOLERANCE_SECS - 30,
            1 => now + DEFAULT_TOLERANCE_SECS + 30,
            2 => now - DEFAULT_TOLERANCE_SECS + 30,
            _ => now + rng.random_range(-60..60),
        };
        let good = SigningKey::parse(&secret)
            .unwrap()
            .sign(&id, ts, body.as_bytes());
        let (sig, sent_body, sent_id) = match i % 7 {
            0 => (format!("v1,AAAA {good}"), body.clone(), id.clone()),
            1 => (good.clone(), format!("{body} "), id.clone()),
            2 => (good.clone(), body.clone(), format!("{id}x")),
            3 => (
                good.trim_start_matches("v1,").to_string(),
                body.clone(),
                id.clone(),
            ),
            4 => (format!("v1,{}", "A".repeat(44)), body.clone(), id.clone()),
            _ => (good.clone(), body.clone(), id.clone()),
        };
        cases.push(json!({
            "secret": secret,
            "headers": {"webhook-id": sent_id, "webhook-timestamp": ts.to_string(), "webhook-signature": sig},
            "body": sent_body,
        }));
    }
    let verdicts = sdk_verdicts(&cases);
    assert_eq!(verdicts.len(), cases.len());
    let now = chrono::Utc::now().timestamp();
    let mut accepted = 0;
    for (case, verdict) in cases.iter().zip(&verdicts) {
        let h = &case["headers"];
        let ours = SigningKey::parse(case["secret"].as_str().unwrap()).and_then(|key| {
            key.verify(
                h["webhook-id"].as_str(),
                h["webhook-timestamp"].as_str(),
                h["webhook-signature"].as_str(),
                case["body"].as_str().unwrap().as_bytes(),
                now,
                DEFAULT_TOLERANCE_SECS,
            )
        });
        let sdk_ok = verdict["ok"].as_bool().unwrap();
        assert_eq!(ours.is_ok(), sdk_ok, "{case}: ours {ours:?}, SDK {verdict}");
        if sdk_ok {
            accepted += 1;
            assert_eq!(verdict["type"], "realtime.call.incoming");
        }
    }
    // The vectors exercise both verdicts in earnest.
    assert!(accepted > 100 && accepted < 350, "{accepted} accepted");
}
