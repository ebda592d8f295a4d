//! Where a setting comes from, lowest first: its default, a TOML file (`--config`,
//! `SMALLPAY_CONFIG`), the environment, the command line.
//!
//! clap already layers the flags over the environment over the defaults, with one parser and
//! one description per setting. The file is fed through those same parsers — each of its
//! settings that neither a flag nor the environment gave becomes a flag — so a value is
//! checked the same way wherever it comes from, and the reference below is generated from
//! the same declarations (a test holds `docs/operations.md` to it). A second layering crate
//! (figment, config) would need every setting declared twice, once for clap and once for serde.
use std::{collections::BTreeSet, ffi::OsString, fmt::Write as _, path::Path};

use clap::{
    Arg, ArgMatches, CommandFactory, FromArgMatches,
    error::{ContextKind, ErrorKind},
    parser::ValueSource,
};

use super::Cli;

/// The settings of this process: its command line, its environment and the file they name.
pub fn load() -> Result<Cli, clap::Error> {
    load_from(std::env::args_os())
}

/// [`load`] with another command line (the environment is still this process's).
pub fn load_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let (matches, _) = resolve(args.into_iter().map(Into::into).collect())?;
    Cli::from_arg_matches(&matches)
}

/// The settings in force as TOML, each with where it came from; secrets are not shown.
pub fn show_toml<I, T>(args: I) -> Result<String, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let (matches, from_file) = resolve(args.into_iter().map(Into::into).collect())?;
    let mut out = String::from("# the settings in force (smallpay settings); secrets are never shown\n");
    for arg in &settings() {
        let id = arg.get_id().as_str();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) if from_file.contains(id) => "the config file",
            Some(ValueSource::CommandLine) => "the command line",
            Some(ValueSource::EnvVariable) => "the environment",
            Some(ValueSource::DefaultValue) => "the default",
            _ => {
                let _ = writeln!(out, "# {id}: not set");
                continue;
            }
        };
        let values: Vec<String> =
            matches.get_raw(id).into_iter().flatten().map(|v| v.to_string_lossy().into_owned()).collect();
        let value = if is_secret(arg) && source != "the default" {
            "\"(set; not shown)\"".to_owned()
        } else if arg.get_value_delimiter().is_some() {
            let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
            format!("[{}]", quoted.join(", "))
        } else {
            quote(&values.join(","))
        };
        let _ = writeln!(out, "{id} = {value}  # from {source}");
    }
    Ok(out)
}

/// Every setting as a Markdown table: the key in a config file, the environment variable, the
/// flag, the default and the description — `docs/operations.md` holds this text.
pub fn reference_markdown() -> String {
    let mut out =
        String::from("| setting (file key) | environment | flag | default | what it does |\n|---|---|---|---|---|\n");
    for arg in &settings() {
        let env = arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_default();
        let flag = arg.get_long().map(|l| format!("`--{l}`")).unwrap_or_default();
        let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        let default = if defaults.is_empty() { "—".to_owned() } else { format!("`{}`", defaults.join(",")) };
        let mut about = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        let choices: Vec<String> = arg.get_possible_values().iter().map(|v| format!("`{}`", v.get_name())).collect();
        if !about.is_empty() && !about.ends_with('.') {
            about.push('.');
        }
        if !choices.is_empty() {
            about = format!("{about} One of {}.", choices.join(", ")).trim().to_owned();
        }
        if is_secret(arg) {
            about = format!("{about} *Secret*: `settings` and the logs never show it.").trim().to_owned();
        }
        let about = about.replace('\n', " ").replace('|', "\\|");
        let _ = writeln!(out, "| `{}` | {env} | {flag} | {default} | {about} |", arg.get_id());
    }
    out
}

/// The settings: every global argument but `--help`, `--version` and `--config` itself.
fn settings() -> Vec<Arg> {
    let mut command = Cli::command();
    command.build();
    command
        .get_arguments()
        .filter(|a| a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version" | FILE))
        .cloned()
        .collect()
}

const FILE: &str = "config_file";

/// A secret's value is hidden from `--help` (and so from the reference and `settings`).
fn is_secret(arg: &Arg) -> bool {
    arg.is_hide_env_values_set() && arg.get_id() != "jwt_public_key"
}

/// Parses the command line; when it or the environment names a file, parses again with the
/// file's settings in front as flags — only those neither the command line nor the
/// environment set. Also answers which settings the file gave.
fn resolve(args: Vec<OsString>) -> Result<(ArgMatches, BTreeSet<String>), clap::Error> {
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(&args)?;
    let Some(path) = matches.get_one::<std::path::PathBuf>(FILE).cloned() else {
        return Ok((matches, BTreeSet::new()));
    };
    let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, &e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_error(&path, e.message()))?;
    let known = settings();
    let mut rebuilt: Vec<OsString> = args.iter().take(1).cloned().collect();
    let mut from_file = BTreeSet::new();
    for (key, value) in &table {
        let Some(arg) = known.iter().find(|a| a.get_id() == key.as_str()) else {
            return Err(file_error(
                &path,
                &format!("`{key}` is not a setting (`smallpay settings --reference` lists them)"),
            ));
        };
        if matches!(matches.value_source(key), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
            continue;
        }
        let text = value_text(value).map_err(|why| file_error(&path, &format!("`{key}`: {why}")))?;
        let long = arg.get_long().unwrap_or(key);
        rebuilt.push(format!("--{long}={text}").into());
        from_file.insert(key.clone());
    }
    rebuilt.extend(args.into_iter().skip(1));
    let matches = Cli::command().try_get_matches_from(rebuilt).map_err(|e| {
        let why = e.get(ContextKind::InvalidArg).map(|a| format!(" ({a})")).unwrap_or_default();
        let message = e.render().to_string();
        let first = message.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
        file_error(&path, &format!("{first}{why}"))
    })?;
    Ok((matches, from_file))
}

fn value_text(value: &toml::Value) -> Result<String, String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) => items.iter().map(value_text).collect::<Result<Vec<_>, _>>()?.join(","),
        toml::Value::Table(_) => return Err("a table is not a setting's value".into()),
    })
}

fn quote(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

fn file_error(path: &Path, why: &str) -> clap::Error {
    clap::Error::raw(ErrorKind::ValueValidation, format!("config file {}: {why}\n", path.display()))
}
