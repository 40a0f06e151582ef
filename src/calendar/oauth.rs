//! OAuth 2 access tokens for the calendar APIs: the client-credentials grant
//! (Microsoft Graph), the refresh-token grant and the JWT-bearer grant of a
//! service account signed RS256 (Google, RFC 7523). Tokens are cached until
//! shortly before they expire and dropped when the API refuses them.
//!
//! The JWT is three base64url parts; `ring` (already the TLS crypto provider)
//! signs it, so no JWT crate is needed for one fixed header.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;

use super::remote;
use super::CalendarError;
use crate::config::Secret;

/// A token this close to expiry is renewed before use.
const EARLY: Duration = Duration::from_secs(60);

pub(crate) enum Grant {
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
        scope: String,
    },
    RefreshToken {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
    },
    ServiceAccount {
        client_email: String,
        key: Box<ring::rsa::KeyPair>,
        scope: String,
    },
}

pub(crate) struct TokenSource {
    kind: &'static str,
    http: reqwest::Client,
    token_url: String,
    grant: Grant,
    cached: Mutex<Option<(Secret, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The private key of a service account, from its PKCS#8 PEM (the
/// `private_key` of the downloaded JSON key file).
pub(crate) fn service_account_key(pem: &Secret) -> Result<ring::rsa::KeyPair, CalendarError> {
    let body: String = pem
        .expose()
        .replace("\\n", "\n")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| CalendarError::Invalid("the service account private key is not PEM".into()))?;
    ring::rsa::KeyPair::from_pkcs8(&der).map_err(|_| {
        CalendarError::Invalid("the service account private key is not an RSA PKCS#8 key".into())
    })
}

/// An RS256-signed JWT with `claims`.
pub(crate) fn sign_jwt(
    key: &ring::rsa::KeyPair,
    claims: &serde_json::Value,
) -> Result<String, CalendarError> {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| CalendarError::Unavailable("could not sign the service account JWT".into()))?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

impl TokenSource {
    pub(crate) fn new(
        kind: &'static str,
        http: reqwest::Client,
        token_url: String,
        grant: Grant,
    ) -> Self {
        TokenSource {
            kind,
            http,
            token_url,
            grant,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token, fetched if none is cached.
    pub(crate) async fn bearer(&self) -> Result<Secret, CalendarError> {
        if let Some((token, until)) = self.cached.lock().clone() {
            if Instant::now() + EARLY < until {
                return Ok(token);
            }
        }
        let (token, lifetime) = self.fetch().await?;
        *self.cached.lock() = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// The API refused the token: the next request gets a new one.
    pub(crate) fn forget(&self) {
        *self.cached.lock() = None;
    }

    fn form(&self) -> Result<Vec<(&'static str, String)>, CalendarError> {
        Ok(match &self.grant {
            Grant::ClientCredentials {
                client_id,
                client_secret,
                scope,
            } => vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().to_string()),
                ("scope", scope.clone()),
            ],
            Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => vec![
                ("grant_type", "refresh_token".into()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().to_string()),
                ("refresh_token", refresh_token.expose().to_string()),
            ],
            Grant::ServiceAccount {
                client_email,
                key,
                scope,
            } => {
                let now = chrono::Utc::now().timestamp();
                let claims = json!({
                    "iss": client_email,
                    "scope": scope,
                    "aud": self.token_url,
                    "iat": now,
                    "exp": now + 3600,
                });
                vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                    ),
                    ("assertion", sign_jwt(key, &claims)?),
                ]
            }
        })
    }

    async fn fetch(&self) -> Result<(Secret, Duration), CalendarError> {
        let kind = self.kind;
        let res = self
            .http
            .post(&self.token_url)
            .form(&self.form()?)
            .send()
            .await
            .map_err(|e| remote::transport(kind, e))?;
        let code = res.status();
        let body = res.text().await.map_err(|e| remote::transport(kind, e))?;
        if !code.is_success() {
            // The token endpoint's `error` code is safe to quote (RFC 6749
            // 5.2); the rest of its body is not echoed.
            let error = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            let err = CalendarError::Unavailable(format!(
                "{kind} calendar sign-in failed ({code} {error}); check the credentials"
            ));
            tracing::warn!(calendar = kind, error = %err, "calendar sign-in failed");
            return Err(err);
        }
        let answer: TokenAnswer =
            serde_json::from_str(&body).map_err(|e| remote::garbled(kind, "token answer", e))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600).max(1));
        Ok((Secret::new(answer.access_token), lifetime))
    }
}
