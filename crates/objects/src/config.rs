//! Where a bucket's credentials, region and endpoint come from, in the
//! order the AWS CLI and SDKs look:
//!
//! 1. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 2. the profile `AWS_PROFILE` names (else `default`) in
//!    `~/.aws/credentials`, then `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`
//!    and `AWS_CONFIG_FILE` move them);
//! 3. web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), container
//!    credentials (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`),
//!    and last the instance's metadata service: these three are
//!    object_store's own providers, which refresh credentials as they expire.
//!
//! The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`,
//! else `us-east-1`. The endpoint (MinIO, R2, Ceph, moto):
//! `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`
//! (top level or in its `s3 =` block); plain http works when the endpoint
//! URL says `http://`. Nothing here is ever printed.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::ClientConfigKey;
use std::path::PathBuf;

/// A resolved configuration (no secret in its `Debug`).
#[derive(Clone)]
pub struct Settings {
    pairs: Vec<(AmazonS3ConfigKey, String)>,
    /// The endpoint, when not AWS's own.
    pub endpoint: Option<String>,
    /// The region.
    pub region: String,
    /// Where the credentials come from, for messages: `environment`,
    /// `profile NAME`, or `the instance or container`.
    pub credentials: String,
    /// Retries of a failed request.
    pub retries: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            pairs: Vec::new(),
            endpoint: None,
            region: String::new(),
            credentials: String::new(),
            retries: 3,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub(crate) fn apply(&self, mut builder: AmazonS3Builder) -> AmazonS3Builder {
        for (key, value) in &self.pairs {
            builder = builder.with_config(*key, value);
        }
        if self
            .endpoint
            .as_deref()
            .is_some_and(|e| e.len() > 7 && e[..7].eq_ignore_ascii_case("http://"))
        {
            builder = builder.with_client_options(
                object_store::ClientOptions::new().with_config(ClientConfigKey::AllowHttp, "true"),
            );
        }
        builder
    }
}

/// The configuration this process's environment and files give.
pub fn resolve() -> Result<Settings, String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    resolve_with(
        &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
        home,
    )
}

/// [`resolve`] with the environment as a function, for tests.
pub fn resolve_with(
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<PathBuf>,
) -> Result<Settings, String> {
    let named = env("AWS_PROFILE").or_else(|| env("AWS_DEFAULT_PROFILE"));
    let profile_name = named.clone().unwrap_or_else(|| "default".into());
    let file = |var: &str, rest: &str| {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(rest)))
    };
    let credentials_file = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config_file = file("AWS_CONFIG_FILE", "config");
    let from_credentials = credentials_file
        .as_ref()
        .and_then(|p| read_section(p, &profile_name, false));
    let from_config = config_file
        .as_ref()
        .and_then(|p| read_section(p, &profile_name, true));
    if named.is_some() && from_credentials.is_none() && from_config.is_none() {
        return Err(format!(
            "AWS profile {profile_name} is in neither the credentials nor the config file"
        ));
    }
    let profile_value = |key: &str| {
        from_credentials
            .as_ref()
            .and_then(|s| s.get(key))
            .or_else(|| from_config.as_ref().and_then(|s| s.get(key)))
    };

    let mut settings = Settings::default();
    let mut set = |key: AmazonS3ConfigKey, value: String| settings.pairs.push((key, value));
    let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            set(AmazonS3ConfigKey::AccessKeyId, id);
            set(AmazonS3ConfigKey::SecretAccessKey, secret);
            if let Some(token) = env("AWS_SESSION_TOKEN") {
                set(AmazonS3ConfigKey::Token, token);
            }
            "environment".to_string()
        }
        _ => match (
            profile_value("aws_access_key_id"),
            profile_value("aws_secret_access_key"),
        ) {
            (Some(id), Some(secret)) => {
                set(AmazonS3ConfigKey::AccessKeyId, id);
                set(AmazonS3ConfigKey::SecretAccessKey, secret);
                if let Some(token) = profile_value("aws_session_token") {
                    set(AmazonS3ConfigKey::Token, token);
                }
                format!("profile {profile_name}")
            }
            _ => {
                let runs = [
                    "credential_process",
                    "sso_session",
                    "sso_start_url",
                    "role_arn",
                ];
                if let Some(key) = runs.iter().find(|k| profile_value(k).is_some()) {
                    if named.is_some() {
                        return Err(format!(
                            "AWS profile {profile_name} gets its credentials through {key}, \
                             which pixmill does not run: export AWS_ACCESS_KEY_ID and \
                             AWS_SECRET_ACCESS_KEY (for example from `aws configure \
                             export-credentials`)"
                        ));
                    }
                }
                for (var, key) in [
                    (
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                        AmazonS3ConfigKey::ContainerCredentialsRelativeUri,
                    ),
                    (
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                        AmazonS3ConfigKey::ContainerCredentialsFullUri,
                    ),
                    (
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                        AmazonS3ConfigKey::ContainerAuthorizationTokenFile,
                    ),
                    (
                        "AWS_WEB_IDENTITY_TOKEN_FILE",
                        AmazonS3ConfigKey::WebIdentityTokenFile,
                    ),
                    ("AWS_ROLE_ARN", AmazonS3ConfigKey::RoleArn),
                    ("AWS_ROLE_SESSION_NAME", AmazonS3ConfigKey::RoleSessionName),
                    (
                        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                        AmazonS3ConfigKey::MetadataEndpoint,
                    ),
                ] {
                    if let Some(value) = env(var) {
                        set(key, value);
                    }
                }
                "the instance or container".to_string()
            }
        },
    };
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| profile_value("region"))
        .unwrap_or_else(|| "us-east-1".into());
    set(AmazonS3ConfigKey::Region, region.clone());
    let endpoint = env("AWS_ENDPOINT_URL_S3")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| from_config.as_ref().and_then(|s| s.get("s3.endpoint_url")))
        .or_else(|| profile_value("endpoint_url"));
    if let Some(endpoint) = &endpoint {
        set(AmazonS3ConfigKey::Endpoint, endpoint.clone());
    }
    settings.endpoint = endpoint;
    settings.region = region;
    settings.credentials = credentials;
    Ok(settings)
}

/// One section of an AWS INI file: `[NAME]` in the credentials file,
/// `[profile NAME]` (or `[default]`) in the config file. Nested blocks
/// (`s3 =` followed by indented lines) give keys `s3.KEY`.
#[derive(Debug, Default)]
struct Section(Vec<(String, String)>);

impl Section {
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }
}

fn read_section(path: &std::path::Path, profile: &str, config_file: bool) -> Option<Section> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_section(&text, profile, config_file)
}

fn parse_section(text: &str, profile: &str, config_file: bool) -> Option<Section> {
    let wanted = |header: &str| {
        let header = header.trim();
        match config_file {
            true if profile == "default" => header == "default" || header == "profile default",
            true => header.strip_prefix("profile").is_some_and(|rest| {
                rest.starts_with(char::is_whitespace) && rest.trim() == profile
            }),
            false => header == profile,
        }
    };
    let mut section: Option<Section> = None;
    let mut inside = false;
    let mut block: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inside = wanted(header);
            block = None;
            if inside && section.is_none() {
                section = Some(Section::default());
            }
            continue;
        }
        if !inside {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim().to_string(), value.trim().to_string());
        let indented = line.starts_with(char::is_whitespace);
        let section = section.get_or_insert_with(Section::default);
        match (indented, &block) {
            (true, Some(parent)) => section.0.push((format!("{parent}.{key}"), value)),
            _ if value.is_empty() => block = Some(key),
            _ => {
                block = None;
                section.0.push((key, value));
            }
        }
    }
    section
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_in(vars: &[(&str, &str)], files: &[(&str, &str)]) -> Result<Settings, String> {
        let home = tempfile_dir();
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        for (name, text) in files {
            std::fs::write(home.join(".aws").join(name), text).unwrap();
        }
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let got = resolve_with(&|k| vars.get(k).cloned(), Some(home.clone()));
        let _ = std::fs::remove_dir_all(&home);
        got
    }

    fn tempfile_dir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "pixmill-objects-config-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ))
    }

    fn value(s: &Settings, key: AmazonS3ConfigKey) -> Option<&str> {
        s.pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    const CREDENTIALS: &str = "[default]\naws_access_key_id = DEFAULTID\naws_secret_access_key = defaultsecret\n\n[work]\naws_access_key_id=WORKID\naws_secret_access_key=worksecret\naws_session_token = worktoken\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n[profile work]\nregion = ap-south-1\ns3 =\n  endpoint_url = http://127.0.0.1:9000\n[profile sso]\nsso_session = corp\n";

    #[test]
    fn environment_keys_come_before_any_profile() {
        let s = resolve_in(
            &[
                ("AWS_ACCESS_KEY_ID", "ENVID"),
                ("AWS_SECRET_ACCESS_KEY", "envsecret"),
                ("AWS_SESSION_TOKEN", "envtoken"),
                ("AWS_PROFILE", "work"),
            ],
            &[("credentials", CREDENTIALS), ("config", CONFIG)],
        )
        .unwrap();
        assert_eq!(value(&s, AmazonS3ConfigKey::AccessKeyId), Some("ENVID"));
        assert_eq!(value(&s, AmazonS3ConfigKey::Token), Some("envtoken"));
        assert_eq!(s.credentials, "environment");
        // The region and endpoint still come from the named profile.
        assert_eq!(s.region, "ap-south-1");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn a_named_profile_gives_keys_token_region_and_endpoint() {
        let s = resolve_in(
            &[("AWS_PROFILE", "work")],
            &[("credentials", CREDENTIALS), ("config", CONFIG)],
        )
        .unwrap();
        assert_eq!(value(&s, AmazonS3ConfigKey::AccessKeyId), Some("WORKID"));
        assert_eq!(
            value(&s, AmazonS3ConfigKey::SecretAccessKey),
            Some("worksecret")
        );
        assert_eq!(value(&s, AmazonS3ConfigKey::Token), Some("worktoken"));
        assert_eq!(s.credentials, "profile work");
        assert_eq!(s.region, "ap-south-1");
    }

    #[test]
    fn the_default_profile_and_region_order() {
        let s = resolve_in(&[], &[("credentials", CREDENTIALS), ("config", CONFIG)]).unwrap();
        assert_eq!(value(&s, AmazonS3ConfigKey::AccessKeyId), Some("DEFAULTID"));
        assert_eq!(s.region, "eu-west-1");
        let s = resolve_in(
            &[("AWS_DEFAULT_REGION", "us-west-2")],
            &[("config", CONFIG)],
        )
        .unwrap();
        assert_eq!(s.region, "us-west-2");
        let s = resolve_in(
            &[
                ("AWS_REGION", "ca-central-1"),
                ("AWS_DEFAULT_REGION", "us-west-2"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.region, "ca-central-1");
        assert_eq!(resolve_in(&[], &[]).unwrap().region, "us-east-1");
    }

    #[test]
    fn endpoint_variables_in_the_sdk_order() {
        let s = resolve_in(
            &[
                ("AWS_ENDPOINT_URL", "http://general:1"),
                ("AWS_ENDPOINT_URL_S3", "http://s3only:2"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://s3only:2"));
        let s = resolve_in(&[("AWS_ENDPOINT_URL", "https://general:1")], &[]).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://general:1"));
    }

    #[test]
    fn without_keys_the_instance_and_container_providers_are_configured() {
        let s = resolve_in(
            &[(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            )],
            &[],
        )
        .unwrap();
        assert_eq!(s.credentials, "the instance or container");
        assert_eq!(
            value(&s, AmazonS3ConfigKey::ContainerCredentialsRelativeUri),
            Some("/v2/credentials/abc")
        );
        assert_eq!(value(&s, AmazonS3ConfigKey::AccessKeyId), None);
    }

    #[test]
    fn a_missing_or_unrunnable_named_profile_is_an_error_without_secrets() {
        let e =
            resolve_in(&[("AWS_PROFILE", "nope")], &[("credentials", CREDENTIALS)]).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let e = resolve_in(&[("AWS_PROFILE", "sso")], &[("config", CONFIG)]).unwrap_err();
        assert!(e.contains("sso_session"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let s = resolve_in(
            &[
                ("AWS_ACCESS_KEY_ID", "ID"),
                ("AWS_SECRET_ACCESS_KEY", "TOPSECRET"),
            ],
            &[],
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("TOPSECRET"));
    }
}
