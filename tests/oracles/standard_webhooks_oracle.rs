//! Cross-checks the Standard Webhooks signer and verifier of frontdesk-wire
//! (what the engine signs HTTP tools and event webhooks with) against the
//! official `openai` SDK's `webhooks.verify_signature`, run through
//! `tests/oracles/py/standard_webhooks.py` in the pinned Python venv.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use frontdesk_wire::standard_webhooks::{SigningKey, DEFAULT_TOLERANCE_SECS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

fn python() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("FRONTDESK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target/pytools/bin/python"));
    assert!(
        python.is_file(),
        "Python for the openai SDK oracle not found at {}; run scripts/pytools.sh or set FRONTDESK_PYTHON",
        python.display()
    );
    python
}

/// The SDK's verdict on each vector: `true` when it accepts it.
fn sdk_verdicts(vectors: &[serde_json::Value]) -> Vec<bool> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/py/standard_webhooks.py");
    let mut child = Command::new(python())
        .arg(&script)
        .env("PYTHONUTF8", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(vectors).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), vectors.len(), "{text}");
    lines.iter().map(|l| *l == "valid").collect()
}

fn random_body(rng: &mut StdRng) -> String {
    let words = [
        "call", "Dana", "é", "🦷", "\"q\"", "\\", "{}", " ", "\n", "ünï",
    ];
    let n = rng.random_range(0..12);
    let text: String = (0..n)
        .map(|_| words[rng.random_range(0..words.len())])
        .collect();
    json!({"call": format!("CA{:032x}", rng.random::<u128>()), "business": "Harbor Dental", "arguments": {"q": text}})
        .to_string()
}

#[test]
fn signatures_agree_with_the_openai_sdk() {
    let mut rng = StdRng::seed_from_u64(13);
    let now = chrono::Utc::now().timestamp();
    let mut vectors = Vec::new();
    let mut ours = Vec::new();
    for i in 0..60 {
        let key_bytes: Vec<u8> = (0..rng.random_range(16..48))
            .map(|_| rng.random())
            .collect();
        let secret = SigningKey::encode_secret(&key_bytes);
        let key = SigningKey::parse(&secret).unwrap();
        let id = format!("msg_{:x}", rng.random::<u64>());
        let ts = now - rng.random_range(0..200);
        let body = random_body(&mut rng);
        let mut sig = key.sign(&id, ts, body.as_bytes());
        let mut sent_body = body.clone();
        let mut sent_ts = ts.to_string();
        // Every other vector is spoiled one way or another; both sides must
        // refuse it.
        match i % 6 {
            1 => sent_body.push(' '),
            3 => sent_ts = (ts + 1).to_string(),
            5 => {
                sig = format!(
                    "v1,{}",
                    &SigningKey::parse(&SigningKey::encode_secret(b"other key"))
                        .unwrap()
                        .sign(&id, ts, body.as_bytes())[3..]
                )
            }
            _ => {}
        }
        if i % 10 == 4 {
            // Rotation: a stale signature first, the good one second.
            sig = format!("v1,c3RhbGU= {sig}");
        }
        ours.push(
            key.verify(
                Some(&id),
                Some(&sent_ts),
                Some(&sig),
                sent_body.as_bytes(),
                chrono::Utc::now().timestamp(),
                DEFAULT_TOLERANCE_SECS,
            )
            .is_ok(),
        );
        vectors.push(json!({"secret": secret, "id": id, "timestamp": sent_ts, "signature": sig, "body": sent_body}));
    }
    let theirs = sdk_verdicts(&vectors);
    assert_eq!(ours, theirs, "verdicts differ on {vectors:#?}");
    assert_eq!(
        ours.iter().filter(|v| **v).count(),
        30,
        "half the vectors are good"
    );
}
