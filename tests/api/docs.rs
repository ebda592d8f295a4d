//! The documentation stays inside the repository and stays whole: every link of the README,
//! the changelog, the benchmarks and `docs/` resolves to a file of the repository, and every
//! `#anchor` to a heading of its file; no link leads out of the repository (a reader with a
//! clone and no network has everything). Also the README's promise to its readers: the two
//! commands on its first screen, the whole of it on two.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files a reader is sent to.
fn documents() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        ["README.md", "CHANGELOG.md", "BENCHMARKS.md"].iter().map(|f| root().join(f)).collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// GitHub's anchor of a heading: lower case, punctuation dropped (letters of any script,
/// digits, `-` and `_` kept), spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside fenced code).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.insert(slug(line.trim_start_matches('#')));
        }
    }
    found
}

/// `[label](target)` and `![alt](target)` outside fenced code, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let pattern = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut fenced = false;
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            found.extend(pattern.captures_iter(line).map(|c| (n + 1, c[1].to_owned())));
        }
    }
    found
}

fn broken_links(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let dir = file.parent().unwrap();
    let mut broken = Vec::new();
    for (line, target) in links(&text) {
        let at = format!("{}:{line}: {target}", file.strip_prefix(root()).unwrap().display());
        if target.contains("://") || target.starts_with("mailto:") {
            broken.push(format!("{at} leads out of the repository"));
            continue;
        }
        let (path, anchor) = target.split_once('#').map_or((target.as_str(), None), |(p, a)| (p, Some(a)));
        let resolved = if path.is_empty() { file.to_path_buf() } else { dir.join(path) };
        let Ok(resolved) = resolved.canonicalize() else {
            broken.push(format!("{at}: no such file"));
            continue;
        };
        if !resolved.starts_with(root().canonicalize().unwrap()) {
            broken.push(format!("{at}: outside the repository"));
            continue;
        }
        if let Some(anchor) = anchor {
            let heads = anchors(&std::fs::read_to_string(&resolved).unwrap_or_default());
            if !heads.contains(anchor) {
                broken.push(format!("{at}: no heading with this anchor"));
            }
        }
    }
    broken
}

#[test]
fn every_link_of_the_documentation_resolves_inside_the_repository() {
    let broken: Vec<String> = documents().iter().flat_map(|f| broken_links(f)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_sees_what_is_broken() {
    let text = "[a](https://example.com) [b](nowhere.md) [c](#no-such-heading) [d](#the-heading)\n# The heading\n```\n[e](ignored.md)\n```";
    std::fs::create_dir_all(root().join("target")).unwrap();
    let file = root().join("target").join(format!("docs-check-{}.md", std::process::id()));
    std::fs::write(&file, text).unwrap();
    let broken = broken_links(&file);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(broken.len(), 3, "{broken:?}");
    assert!(
        broken[0].contains("out of the repository")
            && broken[1].contains("no such file")
            && broken[2].contains("anchor")
    );
}

#[test]
fn the_readme_has_both_commands_on_its_first_screen_and_fits_on_two() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    assert!(lines.len() <= 150, "README.md has {} lines; the rest belongs in docs/", lines.len());
    let first_screen = lines[..40.min(lines.len())].join("\n");
    for command in ["cargo run", "cargo test"] {
        assert!(first_screen.contains(command), "`{command}` is not in the README's first 40 lines");
    }
}
