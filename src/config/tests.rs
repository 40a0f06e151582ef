use super::*;
use std::io::Write;

fn repo_sources() -> ConfigSources {
    ConfigSources::in_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A temp config dir holding the repo's files with `extra` appended to one.
fn dir_with(default_extra: &str, business_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = repo_sources();
    for (from, name, extra) in [
        (&src.defaults, "default.toml", default_extra),
        (&src.business, "business.toml", business_extra),
    ] {
        let mut text = std::fs::read_to_string(from).unwrap();
        text.push_str(extra);
        let mut f = std::fs::File::create(dir.path().join(name)).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
    dir
}

#[test]
fn shipped_defaults_match_the_code_defaults() {
    // Keeps config/default.toml and the Default impls from drifting apart.
    let c = Config::load_with_env(&repo_sources(), &[]).unwrap();
    let d = Config::default();
    assert_eq!(c.server, d.server);
    assert_eq!(c.storage, d.storage);
    assert_eq!(c.limits, d.limits);
    assert_eq!(c.knowledge, d.knowledge);
    assert_eq!(c.twilio, d.twilio);
    assert_eq!(c.realtime, d.realtime);
    assert_eq!(c.call, d.call);
    assert_eq!(c.supervision, d.supervision);
    assert_eq!(c.business.business.name, "Harbor Dental");
    assert!(c.business.department("front desk").is_some());
    assert_eq!(c.business.holidays.len(), 3);
    assert_eq!(c.business.calendar, d.business.calendar);
    // The sample business's privacy policy is what the code does unconfigured.
    let p = &c.business.privacy;
    assert_eq!(p.redaction, d.business.privacy.redaction);
    assert_eq!(
        p.retention.resolve(c.storage.retention_days),
        d.business
            .privacy
            .retention
            .resolve(d.storage.retention_days)
    );
}

#[test]
fn a_privacy_policy_is_read_and_checked() {
    let dir = dir_with("", "");
    let path = dir.path().join("business.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("redaction = \"standard\"", "redaction = \"strict\"")
        .replace("messages = 0", "messages = 30\ntranscripts = 7");
    std::fs::write(&path, text).unwrap();
    let c = Config::load_with_env(&ConfigSources::in_dir(dir.path()), &[]).unwrap();
    assert_eq!(c.business.privacy.redaction, RedactionLevel::Strict);
    let r = c
        .business
        .privacy
        .retention
        .resolve(c.storage.retention_days);
    assert_eq!((r.transcripts, r.messages, r.recordings), (7, 30, 90));

    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("redaction = \"strict\"", "redaction = \"paranoid\"");
    std::fs::write(&path, text).unwrap();
    let err = Config::load_with_env(&ConfigSources::in_dir(dir.path()), &[]).unwrap_err();
    assert!(err.to_string().contains("paranoid"), "{err}");
}

#[test]
fn unknown_key_is_an_error_naming_it() {
    let dir = dir_with("\n[call]\nmax_cal_secs = 5\n", "");
    let err = Config::load_with_env(&ConfigSources::in_dir(dir.path()), &[]).unwrap_err();
    // The duplicate [call] table is itself a TOML error; either way it is reported.
    assert!(
        err.to_string().contains("call") || err.to_string().contains("max_cal_secs"),
        "{err}"
    );

    let dir = dir_with("\n[bogus]\nx = 1\n", "");
    let err = Config::load_with_env(&ConfigSources::in_dir(dir.path()), &[]).unwrap_err();
    assert!(err.to_string().contains("bogus"), "{err}");
}

#[test]
fn unknown_env_key_is_an_error() {
    let err = Config::load_with_env(
        &repo_sources(),
        &env(&[("FRONTDESK__CALL__MAX_CAL_SECS", "5")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_cal_secs"), "{err}");
}

#[test]
fn env_overrides_files() {
    let c = Config::load_with_env(
        &repo_sources(),
        &env(&[
            ("FRONTDESK__CALL__MAX_CALL_SECS", "900"),
            ("FRONTDESK__SERVER__VERIFY_SIGNATURES", "false"),
            ("FRONTDESK__REALTIME__VOICE", "cedar"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("OPENAI_API_KEY", "sk-test"),
            ("TWILIO_AUTH_TOKEN", "12345"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("PUBLIC_URL", "https://desk.example.com"),
            ("PORT", "9090"),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ]),
    )
    .unwrap();
    assert_eq!(c.call.max_call_secs, 900);
    assert!(!c.server.verify_signatures);
    assert_eq!(c.realtime.voice, "cedar");
    assert_eq!(c.realtime.base_url, "http://127.0.0.1:9/v1");
    assert_eq!(
        c.realtime.api_key.as_ref().map(Secret::expose),
        Some("sk-test")
    );
    // A numeric-looking token stays a string.
    assert_eq!(
        c.twilio.auth_token.as_ref().map(Secret::expose),
        Some("12345")
    );
    assert_eq!(c.twilio.account_sid, "AC123");
    assert_eq!(c.server.public_url, "https://desk.example.com");
    assert_eq!(c.server.port, 9090);
    assert_eq!(c.storage.database_url, "postgres://postgres@127.0.0.1/test");
    assert_eq!(c.storage.redis_url, "redis://127.0.0.1:6379");
}

#[test]
fn secrets_in_files_are_rejected() {
    let dir = dir_with("", "\n[twilio]\nauth_token = \"oops\"\n");
    let err = Config::load_with_env(&ConfigSources::in_dir(dir.path()), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::SecretInFile { .. }), "{err}");
}

#[test]
fn bad_values_are_clear_errors() {
    let err = Config::load_with_env(&repo_sources(), &env(&[("PORT", "eighty")])).unwrap_err();
    assert!(err.to_string().contains("PORT"), "{err}");
    let err = Config::load_with_env(
        &repo_sources(),
        &env(&[("DATABASE_URL", "mysql://u:secret@h/db")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("DATABASE_URL") && !err.to_string().contains("secret"),
        "{err}"
    );
    let err = Config::load_with_env(&repo_sources(), &env(&[("PUBLIC_URL", "desk.example.com")]))
        .unwrap_err();
    assert!(err.to_string().contains("public_url"), "{err}");
    let err = Config::load_with_env(
        &repo_sources(),
        &env(&[("FRONTDESK__REALTIME__AUDIO_FORMAT", "opus")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("audio_format") || err.to_string().contains("opus"),
        "{err}"
    );
}

#[test]
fn missing_file_is_named() {
    let err =
        Config::load_with_env(&ConfigSources::in_dir(Path::new("/nonexistent")), &[]).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/default.toml"),
        "{err}"
    );
}

#[test]
fn a_calendar_is_chosen_in_the_file_and_its_secrets_come_from_the_environment() {
    let extra =
        "\n[calendar.caldav]\nurl = \"http://127.0.0.1:5232/desk/cal/\"\nusername = \"desk\"\n";
    let dir = dir_with("", extra);
    let path = dir.path().join("business.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("kind = \"builtin\"", "kind = \"caldav\"");
    std::fs::write(&path, &text).unwrap();
    let sources = ConfigSources::in_dir(dir.path());
    let err = Config::load_with_env(&sources, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("FRONTDESK__CALENDAR__CALDAV__PASSWORD"),
        "{err}"
    );
    let c = Config::load_with_env(
        &sources,
        &env(&[("FRONTDESK__CALENDAR__CALDAV__PASSWORD", "app-pass-1")]),
    )
    .unwrap();
    let cal = &c.business.calendar;
    assert_eq!(cal.kind, calendar::CalendarKind::Caldav);
    assert_eq!(
        cal.caldav.password.as_ref().map(Secret::expose),
        Some("app-pass-1")
    );
    assert!(!format!("{c:?}").contains("app-pass-1"));

    std::fs::write(&path, format!("{text}password = \"in-the-file\"\n")).unwrap();
    let err = Config::load_with_env(&sources, &[]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::SecretInFile { key, .. } if key == "calendar.caldav.password"),
        "{err}"
    );
}

#[test]
fn the_openai_webhook_secret_comes_from_the_environment_only_and_is_never_shown() {
    let secret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let c =
        Config::load_with_env(&repo_sources(), &env(&[("OPENAI_WEBHOOK_SECRET", secret)])).unwrap();
    assert_eq!(
        c.realtime.webhook_secret.as_ref().map(Secret::expose),
        Some(secret)
    );
    let shown = format!("{c:?}\n{}", super::summary::summary(&c));
    assert!(!shown.contains("AAECAwQF"), "{shown}");
    assert!(shown.contains("OpenAI webhook secret set"), "{shown}");
    let dir = dir_with("", "\n[realtime]\nwebhook_secret = \"whsec_oops\"\n");
    let err = Config::load_with_env(&ConfigSources::in_dir(dir.path()), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::SecretInFile { .. }), "{err}");
}
