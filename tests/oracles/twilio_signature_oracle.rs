//! Cross-checks `twilio::signature` against the official Twilio SDK, run
//! through `tests/oracles/py/twilio_signature.py` in the pinned Python venv.
//!
//! Set up the oracle once with `scripts/pytools.sh` (scripts/test.sh does it),
//! or point `FRONTDESK_PYTHON` at a python that has the `twilio` package.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use frontdesk::twilio::signature::{compute, Algorithm, Validator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Oracle {
    python: PathBuf,
    script: PathBuf,
}

impl Oracle {
    fn locate() -> Self {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("FRONTDESK_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("target/pytools/bin/python"));
        let script = manifest.join("tests/oracles/py/twilio_signature.py");
        assert!(
            script.is_file(),
            "Twilio signature oracle script not found at {}",
            script.display()
        );
        assert!(
            python.is_file(),
            "Python for the Twilio SDK oracle not found at {}. Set it up with \
             scripts/pytools.sh from {} (or set FRONTDESK_PYTHON)",
            python.display(),
            manifest.display()
        );
        Self { python, script }
    }

    fn run(&self, args: &[String]) -> Output {
        Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .env("PYTHONUTF8", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.python.display()))
    }

    fn sign(&self, token: &str, url: &str, params: &[(String, String)]) -> String {
        let mut args = vec![
            "sign".to_owned(),
            "--token".to_owned(),
            token.to_owned(),
            "--url".to_owned(),
            url.to_owned(),
        ];
        args.extend(params.iter().map(|(k, v)| format!("{k}={v}")));
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "oracle sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn verify(&self, token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
        let mut args = vec![
            "verify".to_owned(),
            "--token".to_owned(),
            token.to_owned(),
            "--url".to_owned(),
            url.to_owned(),
            "--signature".to_owned(),
            signature.to_owned(),
        ];
        args.extend(params.iter().map(|(k, v)| format!("{k}={v}")));
        let out = self.run(&args);
        match out.status.code() {
            Some(0) => true,
            Some(1) if out.stderr.is_empty() => false,
            _ => panic!(
                "oracle verify failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// The script flattens repeated keys into a list the SDK cannot hash, so
    /// multi-valued parameters go through the SDK's own multi-dict path
    /// (`getlist`, as for Django's QueryDict) with the same validator class.
    fn sign_multi(&self, token: &str, url: &str, params: &[(String, String)]) -> String {
        const SHIM: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator
class MultiDict(dict):
    def getlist(self, key):
        return self[key]
req = json.load(sys.stdin)
params = MultiDict()
for key, value in req["params"]:
    params.setdefault(key, []).append(value)
print(RequestValidator(req["token"]).compute_signature(req["url"], params))
"#;
        let input = serde_json::json!({"token": token, "url": url, "params": params}).to_string();
        let mut child = Command::new(&self.python)
            .args(["-c", SHIM])
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
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "oracle shim failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

const NAME_CHARS: &[char] = &[
    'A', 'B', 'C', 'a', 'b', 'c', 'Z', 'z', '0', '9', '_', '.', 'é', 'É', 'ß', 'ü', '日', '本',
    '🎵', ' ', '&', '+', '%', '?',
];
const VALUE_CHARS: &[char] = &[
    'a', 'Z', '0', '1', ' ', '+', '&', '=', '%', '?', '#', '/', ':', '"', '\'', '<', '>', '\\',
    ',', ';', '~', '-', 'é', 'ñ', '€', '日', '本', '語', '🎵', '👍', '\u{00a0}', '\t',
];

fn random_string(rng: &mut StdRng, alphabet: &[char], min: usize, max: usize) -> String {
    let len = rng.random_range(min..=max);
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect()
}

/// Names must not contain `=` (the script splits on it) nor start with `-`
/// (argparse would read an option); the alphabet has neither.
fn random_name(rng: &mut StdRng) -> String {
    let first = ['A', 'b', 'C', 'é', '日', 'x', 'Z'][rng.random_range(0..7)];
    format!("{first}{}", random_string(rng, NAME_CHARS, 0, 8))
}

fn random_url(rng: &mut StdRng) -> String {
    let scheme = ["https", "http"][rng.random_range(0..2)];
    let host = [
        "mycompany.com",
        "app.example.com",
        "127.0.0.1",
        "bridge.example.org",
    ][rng.random_range(0..4)];
    let port = ["", ":443", ":80", ":8443", ":3000"][rng.random_range(0..5)];
    let path = [
        "/",
        "/voice",
        "/twilio/voice/incoming",
        "/myapp.php",
        "/a%20b/c",
    ][rng.random_range(0..5)];
    let query = [
        "",
        "?foo=1&bar=2",
        "?tenant=acme",
        "?q=%E2%82%AC&x=a+b",
        "?empty=&k=v%26w",
    ][rng.random_range(0..5)];
    format!("{scheme}://{host}{port}{path}{query}")
}

fn random_params(rng: &mut StdRng, distinct_keys: bool) -> Vec<(String, String)> {
    let count = rng.random_range(0..=7);
    let mut params: Vec<(String, String)> = Vec::new();
    while params.len() < count {
        let name = random_name(rng);
        if distinct_keys && params.iter().any(|(k, _)| *k == name) {
            continue;
        }
        params.push((name, random_string(rng, VALUE_CHARS, 0, 12)));
    }
    params
}

/// Twilio-like requests plus the reference example.
fn fixed_cases() -> Vec<(String, Vec<(String, String)>)> {
    let p = |items: &[(&str, &str)]| {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    vec![
        (
            "https://mycompany.com/myapp.php?foo=1&bar=2".to_owned(),
            p(&[
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", "+12349013030"),
                ("Digits", "1234"),
                ("From", "+12349013030"),
                ("To", "+18005551212"),
            ]),
        ),
        (
            "https://frontdesk.example.com/twilio/voice".to_owned(),
            p(&[
                ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
                ("ApiVersion", "2010-04-01"),
                ("CallSid", "CA0123456789abcdef0123456789abcdef"),
                ("CallStatus", "ringing"),
                ("Called", "+15551230000"),
                ("CallerName", "O'Brien, Zoë"),
                ("Direction", "inbound"),
                ("From", "+15559870000"),
                ("FromCity", "SAN FRANCISCO"),
                ("To", "+15551230000"),
            ]),
        ),
        (
            "https://frontdesk.example.com/twilio/gather?step=2".to_owned(),
            p(&[
                (
                    "SpeechResult",
                    "I'd like to book a table for 2 & a half people.",
                ),
                ("Confidence", "0.91"),
            ]),
        ),
        ("wss://bridge.example.com/media".to_owned(), Vec::new()),
        (
            "https://example.com/empty-value".to_owned(),
            p(&[("Digits", ""), ("Body", "")]),
        ),
    ]
}

#[test]
fn compute_matches_sdk_on_generated_requests() {
    let oracle = Oracle::locate();
    let mut rng = StdRng::seed_from_u64(0x7711_0510);
    let mut cases = fixed_cases();
    while cases.len() < 20 {
        let url = random_url(&mut rng);
        let params = random_params(&mut rng, true);
        cases.push((url, params));
    }
    for (i, (url, params)) in cases.iter().enumerate() {
        let token = if i % 2 == 0 {
            "12345".to_owned()
        } else {
            format!("tok-{i}-{}", rng.random::<u32>())
        };
        let ours = compute(&token, url, params, Algorithm::HmacSha1);
        let sdk = oracle.sign(&token, url, params);
        assert_eq!(ours, sdk, "case {i}: url={url:?} params={params:?}");
        assert!(
            oracle.verify(&token, url, params, &ours),
            "SDK rejected our signature, case {i}: {url:?} {params:?}"
        );
        assert!(
            Validator::new(token.as_str())
                .validate(url, params, &sdk)
                .is_ok(),
            "we rejected the SDK's signature, case {i}: {url:?} {params:?}"
        );
    }
}

#[test]
fn port_variants_agree_with_sdk() {
    let oracle = Oracle::locate();
    let params = vec![
        ("CallSid".to_owned(), "CA1".to_owned()),
        ("From".to_owned(), "+1 555 é".to_owned()),
    ];
    let pairs = [
        (
            "https://mycompany.com/voice?x=1",
            "https://mycompany.com:443/voice?x=1",
        ),
        (
            "http://mycompany.com/voice",
            "http://mycompany.com:80/voice",
        ),
    ];
    for (bare, with_port) in pairs {
        let signed_bare = oracle.sign("12345", bare, &params);
        let signed_port = oracle.sign("12345", with_port, &params);
        let v = Validator::new("12345");
        // Both sides accept a signature over either form, whichever URL the server saw.
        for (url, sig) in [(bare, &signed_port), (with_port, &signed_bare)] {
            assert!(v.validate(url, &params, sig).is_ok(), "{url} with {sig}");
            assert!(
                oracle.verify("12345", url, &params, sig),
                "SDK: {url} with {sig}"
            );
        }
    }
}

#[test]
fn tampered_signatures_are_rejected_by_both() {
    let oracle = Oracle::locate();
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params = vec![
        ("Digits".to_owned(), "1234".to_owned()),
        ("To".to_owned(), "+18005551212".to_owned()),
    ];
    let good = compute("12345", url, &params, Algorithm::HmacSha1);
    let mut tampered_params = params.clone();
    tampered_params[0].1 = "1235".to_owned();
    assert!(!oracle.verify("12345", url, &tampered_params, &good));
    assert!(Validator::new("12345")
        .validate(url, &tampered_params, &good)
        .is_err());
    assert!(!oracle.verify("54321", url, &params, &good));
    assert!(Validator::new("54321")
        .validate(url, &params, &good)
        .is_err());
}

#[test]
fn repeated_keys_match_sdk_multidict() {
    let oracle = Oracle::locate();
    let mut rng = StdRng::seed_from_u64(42);
    for i in 0..6 {
        let url = random_url(&mut rng);
        let mut params = random_params(&mut rng, false);
        // Force a repeated key with distinct, duplicate and unsorted values.
        let key = random_name(&mut rng);
        for value in ["zeta", "alpha", "zeta", "Ä", ""] {
            params.push((key.clone(), value.to_owned()));
        }
        if let Some(first) = params.first().cloned() {
            params.push(first);
        }
        let ours = compute("12345", &url, &params, Algorithm::HmacSha1);
        assert_eq!(
            ours,
            oracle.sign_multi("12345", &url, &params),
            "case {i}: {url:?} {params:?}"
        );
    }
}
