//! Caller recognition: `lookup_caller` over the contacts directory, the
//! phone-number normalisation every caller-facing tool shares, and loading
//! the configured `[[contacts]]` into the database at start.

use serde_json::{json, Value};

use super::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};
use crate::business::phone::is_nanp;
pub use crate::business::phone::{business_is_nanp, caller_number, normalize_phone};
use crate::config::BusinessConfig;
use crate::store::{KnownCaller, Store};

/// How long the incoming-call webhook waits for the contacts lookup: a slow
/// database must not hold up the answer, it only costs the greeting by name.
pub const RECOGNISE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(150);

/// The contacts of `business` with normalised numbers; entries whose
/// number cannot be read are left out (and logged), not guessed at.
pub fn configured_callers(business: &BusinessConfig) -> Vec<KnownCaller> {
    let nanp = is_nanp(&business.business.phone);
    business
        .contacts
        .iter()
        .filter_map(|c| match normalize_phone(&c.phone, nanp) {
            Some(phone) if !c.name.trim().is_empty() => Some(KnownCaller {
                phone,
                name: c.name.trim().to_string(),
                vip: c.vip,
                notes: c.notes.trim().to_string(),
            }),
            _ => {
                tracing::warn!(
                    contact = %c.name,
                    "contact skipped: its phone is not a phone number or its name is empty"
                );
                None
            }
        })
        .collect()
}

/// Loads the configured contacts into the database. Never fails start-up:
/// a receptionist that does not recognise callers still answers the phone.
pub async fn seed_contacts(store: &Store, business: &BusinessConfig) {
    let callers = configured_callers(business);
    match store.sync_contacts(&business.business, &callers).await {
        Ok(n) => tracing::info!(contacts = n, "contacts loaded"),
        Err(e) => {
            tracing::error!(error = %e, "contacts could not be loaded; callers will not be recognised")
        }
    }
}

/// The contact calling from `from`, if the directory knows them and the
/// database answers within [`RECOGNISE_TIMEOUT`].
pub async fn recognise(
    store: &Store,
    business: &BusinessConfig,
    from: &str,
) -> Option<KnownCaller> {
    let phone = caller_number(from, is_nanp(&business.business.phone))?;
    // On a task of its own, so a lookup past the deadline is left to finish
    // rather than dropped mid-query: a SQLite operation dropped on an actix
    // worker panics that worker (diesel-async waits for its blocking half
    // with `block_in_place`, which a single-threaded runtime refuses).
    let (store, own) = (store.clone(), business.business.phone.clone());
    let lookup = tokio::spawn(async move { store.find_contact(&own, &phone).await });
    match tokio::time::timeout(RECOGNISE_TIMEOUT, lookup).await {
        Ok(Ok(Ok(found))) => found,
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "contacts lookup failed; caller not recognised");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "contacts lookup stopped; caller not recognised");
            None
        }
        Err(_) => {
            tracing::warn!("contacts lookup too slow; caller not recognised");
            None
        }
    }
}

/// `lookup_caller`: who is this number?
pub struct LookupCaller;

impl Tool for LookupCaller {
    fn name(&self) -> &'static str {
        "lookup_caller"
    }

    fn description(&self) -> &'static str {
        "Look up a caller in the practice's contacts by phone number (defaults to the number they \
         are calling from). Returns their name, whether they are a VIP, and private notes for you. \
         Never read the notes aloud."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "phone": {
                    "type": "string",
                    "description": "The number to look up, E.164 like +15551234567. Leave out to use the caller ID."
                }
            },
            "additionalProperties": false
        })
    }

    fn run(&self, args: Value, ctx: ToolContext) -> ToolFuture {
        let phone = opt_str(&args, "phone").map(|p| p.map(str::to_string));
        Box::pin(async move {
            let nanp = business_is_nanp(&ctx.config);
            let caller_id = caller_number(&ctx.caller, nanp);
            let phone = match phone? {
                Some(p) if !p.trim().is_empty() => normalize_phone(&p, nanp).ok_or_else(|| {
                    ToolError::InvalidArguments(format!(
                        "{p:?} is not a phone number; ask the caller to say it again, digit by digit"
                    ))
                })?,
                _ => caller_id.clone().ok_or_else(|| {
                    ToolError::NotFound(
                        "the caller's number is withheld; ask them for their number".into(),
                    )
                })?,
            };
            let found = ctx
                .store
                .find_contact(&ctx.config.business.business.phone, &phone)
                .await
                .map_err(|e| ToolError::Unavailable(format!("the contacts directory: {e}")))?;
            let is_caller_id = caller_id.as_deref() == Some(phone.as_str());
            Ok(ToolOutput::data(match found {
                None => json!({ "known": false, "phone": phone }),
                // A number the caller merely says proves nothing about who
                // they are: name only, no VIP status, no private notes.
                Some(c) if !is_caller_id => json!({
                    "known": true,
                    "phone": c.phone,
                    "name": c.name,
                    "verified": false,
                    "note": "This is not the number they are calling from, so their identity is not confirmed: share nothing private."
                }),
                Some(c) => json!({
                    "known": true,
                    "phone": c.phone,
                    "name": c.name,
                    "vip": c.vip,
                    "notes": c.notes,
                    "verified": true
                }),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::business::Contact;
    use crate::config::Config;

    #[test]
    fn numbers_normalise_to_e164() {
        assert_eq!(
            normalize_phone("+1 (555) 123-4567", true).as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            normalize_phone("555.123.4567", true).as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            normalize_phone("1-555-123-4567", true).as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            normalize_phone("0044 20 7946 0000", true).as_deref(),
            Some("+442079460000")
        );
        assert_eq!(normalize_phone("5551234567", false), None);
        assert_eq!(normalize_phone(&"4".repeat(40), true), None);
        assert_eq!(normalize_phone(&format!("+{}", "4".repeat(40)), true), None);
        assert_eq!(normalize_phone("call me maybe", true), None);
        assert_eq!(normalize_phone("", true), None);
        assert_eq!(normalize_phone("anonymous", true), None);
        assert_eq!(caller_number("+266696687", true), None);
        assert_eq!(caller_number("+7378742833", true), None);
        assert_eq!(
            caller_number("+15005550006", true).as_deref(),
            Some("+15005550006")
        );
    }

    fn with_contacts() -> Config {
        let mut c = Config::default();
        c.business.contacts = vec![
            Contact {
                phone: "(500) 555-0006".into(),
                name: "Dana Whitfield".into(),
                vip: true,
                notes: "Prefers afternoons.".into(),
            },
            Contact {
                phone: "not a number".into(),
                name: "Broken".into(),
                vip: false,
                notes: String::new(),
            },
        ];
        c
    }

    #[test]
    fn unreadable_contacts_are_skipped() {
        let callers = configured_callers(&with_contacts().business);
        assert_eq!(callers.len(), 1);
        assert_eq!(callers[0].phone, "+15005550006");
    }

    async fn seeded_context(caller: &str) -> ToolContext {
        let mut ctx = crate::tools::test_context().await;
        let config = with_contacts();
        seed_contacts(&ctx.store, &config.business).await;
        ctx.config = std::sync::Arc::new(config);
        ctx.caller = caller.into();
        ctx
    }

    #[tokio::test]
    async fn caller_id_lookup_returns_everything() {
        let ctx = seeded_context("+15005550006").await;
        let out = LookupCaller.run(json!({}), ctx).await.unwrap().output;
        assert_eq!(out["known"], true);
        assert_eq!(out["name"], "Dana Whitfield");
        assert_eq!(out["vip"], true);
        assert_eq!(out["notes"], "Prefers afternoons.");
    }

    #[tokio::test]
    async fn another_number_gives_the_name_only() {
        let ctx = seeded_context("+15550001111").await;
        let out = LookupCaller
            .run(json!({"phone": "500-555-0006"}), ctx)
            .await
            .unwrap()
            .output;
        assert_eq!(out["known"], true);
        assert_eq!(out["verified"], false);
        assert!(
            out.get("notes").is_none() && out.get("vip").is_none(),
            "{out}"
        );
    }

    #[tokio::test]
    async fn unknown_withheld_and_bad_numbers() {
        let ctx = seeded_context("+15550001111").await;
        let out = LookupCaller
            .run(json!({}), ctx.clone())
            .await
            .unwrap()
            .output;
        assert_eq!(out, json!({"known": false, "phone": "+15550001111"}));

        let err = LookupCaller
            .run(json!({"phone": "1".repeat(40)}), ctx.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)), "{err}");
        assert!(LookupCaller
            .run(json!({"phone": 5}), ctx.clone())
            .await
            .is_err());

        let mut withheld = ctx;
        withheld.caller = "anonymous".into();
        let err = LookupCaller.run(json!({}), withheld).await.unwrap_err();
        assert!(matches!(err, ToolError::NotFound(_)), "{err}");
    }
}
