use super::{layers::*, *};

#[test]
fn production_refuses_the_development_secret_and_the_test_clock() {
    let mut config = Config::defaults();
    config.environment = Environment::Production;
    assert!(matches!(config.validate(), Err(ConfigError::DevSecretInProduction)));
    config.jwt_secret = Some("x".repeat(40).into());
    assert!(matches!(config.validate(), Err(ConfigError::NoSealKeyInProduction)));
    config.seal_key = Some(DEV_SEAL_KEY.into());
    assert!(matches!(config.validate(), Err(ConfigError::NoSealKeyInProduction)), "not the public one");
    config.seal_key = Some("s".repeat(31).into());
    assert!(matches!(config.validate(), Err(ConfigError::ShortSealKey)));
    config.seal_key = Some("s".repeat(40).into());
    assert!(config.validate().is_ok());
    config.test_clock = true;
    assert!(matches!(config.validate(), Err(ConfigError::TestClockInProduction)));
}

#[test]
fn development_binds_loopback_only_unless_told() {
    let mut config = Config::defaults();
    assert!(config.validate().is_ok(), "127.0.0.1 by default");
    config.bind = "0.0.0.0:8080".parse().unwrap();
    assert!(matches!(config.validate(), Err(ConfigError::PublicBindInDevelopment)));
    config.bind = "[::1]:8080".parse().unwrap();
    assert!(config.validate().is_ok());
    config.bind = "192.0.2.10:8080".parse().unwrap();
    config.dev_public_bind = true;
    assert!(config.validate().is_ok(), "the operator said so");
    config.dev_public_bind = false;
    config.environment = Environment::Production;
    config.jwt_secret = Some("x".repeat(40).into());
    config.seal_key = Some("s".repeat(40).into());
    assert!(config.validate().is_ok(), "production binds where it is told");
}

#[test]
fn production_turns_graphiql_and_introspection_off_unless_asked() {
    let mut config = Config::defaults();
    assert!(config.graphiql_enabled() && config.introspection_enabled());
    config.environment = Environment::Production;
    assert!(!config.graphiql_enabled() && !config.introspection_enabled());
    config.introspection = Some(true);
    assert!(config.introspection_enabled());
    assert_eq!(config.persisted_query_registration(), Registration::Authenticated);
    config.environment = Environment::Development;
    assert_eq!(config.persisted_query_registration(), Registration::Anyone);
    config.persisted_query_registration = Some(Registration::Authenticated);
    assert_eq!(config.persisted_query_registration(), Registration::Authenticated);
}

#[test]
fn a_jwks_url_stands_alone_and_is_https_in_production() {
    let mut config = Config::defaults();
    config.jwt_jwks_url = Some("https://idp.example/.well-known/jwks.json".into());
    assert!(config.validate().is_ok());
    assert!(!config.verifies_with_shared_secret());
    config.jwt_secret = Some("x".repeat(40).into());
    assert!(matches!(config.validate(), Err(ConfigError::JwksWithOtherKey)));
    config.jwt_secret = None;
    config.jwt_public_key = Some("-----BEGIN PUBLIC KEY-----".into());
    assert!(matches!(config.validate(), Err(ConfigError::JwksWithOtherKey)));
    config.jwt_public_key = None;
    for bad in ["ftp://idp.example/jwks", "file:///etc/jwks.json", "not a url"] {
        config.jwt_jwks_url = Some(bad.into());
        assert!(matches!(config.validate(), Err(ConfigError::BadJwksUrl(_))), "{bad}");
    }
    config.jwt_jwks_url = Some("http://idp.internal/jwks".into());
    assert!(config.validate().is_ok(), "development: http is allowed");
    config.environment = Environment::Production;
    config.seal_key = Some("s".repeat(40).into());
    assert!(matches!(config.validate(), Err(ConfigError::BadJwksUrl(_))), "production: https only");
    for fine in ["http://127.0.0.1:8081/jwks", "http://localhost/jwks", "http://[::1]/jwks", "https://idp.example/"] {
        config.jwt_jwks_url = Some(fine.into());
        assert!(config.validate().is_ok(), "{fine}: no secret needed in production");
    }
    config.jwt_jwks_min_interval = Duration::from_millis(10);
    assert!(matches!(config.validate(), Err(ConfigError::ShortJwksInterval)));
}

#[test]
fn proxies_parse_as_cidrs_or_addresses() {
    assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(parse_net(" 192.0.2.7 ").unwrap().to_string(), "192.0.2.7/32");
    assert_eq!(parse_net("::1").unwrap().to_string(), "::1/128");
    assert!(parse_net("10.0.0.0/33").is_err());
    assert!(parse_net("proxy.internal").is_err());
    let config = Cli::parse_from(["smallpay", "--trusted-proxies", "10.0.0.0/8,::1"]).config;
    assert_eq!(config.trusted_proxies.len(), 2);
    assert!(Config::defaults().trusted_proxies.is_empty(), "none by default");
}

#[test]
fn metrics_leave_the_public_port_in_production_unless_behind_a_token() {
    let mut config = Config::defaults();
    assert!(config.metrics_on_public_port(), "development: open, as before");
    config.environment = Environment::Production;
    assert!(!config.metrics_on_public_port());
    config.metrics_token = Some("t".into());
    assert!(config.metrics_on_public_port());
    config.metrics_bind = Some("127.0.0.1:9090".parse().unwrap());
    assert!(!config.metrics_on_public_port(), "a listener of its own");
    assert_eq!(Config::defaults().connections_per_client(), 256);
}

#[test]
fn durations_and_flags_parse() {
    assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86400));
    assert!(parse_duration("soon").is_err());
    assert!(parse_flag("1").unwrap());
    assert!(!parse_flag("off").unwrap());
    assert!(parse_flag("maybe").is_err());
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("smallpay-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn arg(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_config_file_sits_under_the_flags() {
    let file = TempFile::new(
        "layers",
        "max_body_bytes = 1000\nmax_fields = 7\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nenvironment = \"development\"\nevent_retention = \"2d\"\n",
    );
    let cli = load_from(["smallpay", "--config", &file.arg(), "--max-fields", "9"]).unwrap();
    assert_eq!(cli.config.max_body_bytes, 1000, "from the file");
    assert_eq!(cli.config.max_fields, 9, "the flag wins over the file");
    assert_eq!(cli.config.trusted_proxies.len(), 2, "an array is a list");
    assert_eq!(cli.config.event_retention, Duration::from_secs(2 * 86400), "parsed as the flag is");
    assert_eq!(cli.config.max_root_fields, 32, "what neither sets keeps its default");
    let after_a_subcommand = load_from(["smallpay", "migrate", "--config", &file.arg()]).unwrap();
    assert_eq!(after_a_subcommand.config.max_body_bytes, 1000);
    assert!(matches!(after_a_subcommand.command, Some(Command::Migrate)));
}

#[test]
fn a_config_file_with_an_unknown_key_or_a_bad_value_stops_the_start() {
    for (name, text, expected) in [
        ("unknown", "max_bodi_bytes = 1000\n", "`max_bodi_bytes` is not a setting"),
        ("value", "max_body_bytes = \"lots\"\n", "lots"),
        ("section", "[database]\nurl = \"x\"\n", "`database` is not a setting"),
        ("table", "bind = { host = \"x\" }\n", "`bind`: a table"),
        ("syntax", "max_body_bytes = \n", "config file"),
        ("duration", "event_retention = \"soon\"\n", "soon"),
    ] {
        let file = TempFile::new(name, text);
        let error = load_from(["smallpay", "--config", &file.arg()]).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains(&file.arg()), "{name}: names the file: {error}");
        assert!(error.contains(expected), "{name}: says what: {error}");
    }
    let missing = load_from(["smallpay", "--config", "/nonexistent/smallpay.toml"]).map(|_| ()).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/smallpay.toml"));
}

#[test]
fn secrets_never_print() {
    let file = TempFile::new(
        "secrets",
        "jwt_secret = \"file-jwt-secret-that-is-long-enough-0001\"\nseal_key = \"file-seal-key-that-is-long-enough-00002\"\nseal_old_keys = [\"old-seal-key-one\", \"old-seal-key-two\"]\nmetrics_token = \"metrics-token-0003\"\ndatabase_url = \"postgres://u:pg-password-0004@db/x\"\n",
    );
    let args = ["smallpay", "--config", &file.arg()];
    let config = load_from(args).unwrap().config;
    assert_eq!(config.jwt_secret_or_dev(), "file-jwt-secret-that-is-long-enough-0001");
    assert_eq!(config.seal_old_keys_exposed(), ["old-seal-key-one", "old-seal-key-two"]);
    let shown = [format!("{config:?}"), format!("{config:#?}"), show_toml(args).unwrap()];
    for text in &shown {
        for secret in ["0001", "00002", "old-seal-key", "0003", "pg-password-0004"] {
            assert!(!text.contains(secret), "{secret} shown in {text}");
        }
    }
    assert!(shown[2].contains("jwt_secret = \"(set; not shown)\"  # from the config file"), "{}", shown[2]);
    assert!(shown[2].contains("bind = \"127.0.0.1:8080\"  # from the default"));
}

#[test]
fn the_operators_guide_holds_the_generated_reference() {
    let guide = include_str!("../../docs/operations.md");
    let begin = "<!-- settings reference: begin -->\n";
    let start = guide.find(begin).expect("the begin marker") + begin.len();
    let end = guide[start..].find("<!-- settings reference: end -->").expect("the end marker") + start;
    let generated = reference_markdown();
    assert!(
        guide[start..end] == generated,
        "docs/operations.md's settings table is not `smallpay settings --reference`'s output: paste it between the markers\n{generated}"
    );
    let names = generated.lines().skip(2).count();
    assert!(names >= 40, "every setting: {names}");
    assert!(generated.contains("| `database_url` | `DATABASE_URL` | `--database-url` |"));
}

#[test]
fn a_standby_is_postgresql_beside_a_postgresql_primary() {
    let mut config = Config::defaults();
    config.database_replica_url = Some("postgres://reader@standby/smallpay".into());
    assert!(matches!(config.validate(), Err(ConfigError::ReplicaNeedsPostgres)), "SQLite has no standby");
    config.database_url = "postgresql://app@primary/smallpay".into();
    assert!(config.validate().is_ok());
    config.database_replica_url = Some("sqlite://copy.db".into());
    assert!(matches!(config.validate(), Err(ConfigError::ReplicaNeedsPostgres)));
    config.database_replica_url = None;
    assert!(config.validate().is_ok());
}
