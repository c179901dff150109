//! The documentation's links: every link in every Markdown file of the repository,
//! parsed as GitHub reads it (comrak, GitHub Flavored Markdown), leads somewhere. A
//! relative link names a file or folder of the repository, and its `#fragment` a
//! heading of that file (anchors made by GitHub's algorithm, comrak's `Anchorizer`).
//! A link to the web must be `https://` with a host: these machines have no network
//! to fetch it, so its target is not checked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use comrak::nodes::{AstNode, NodeValue};
use comrak::{Anchorizer, Arena, Options, parse_document};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Markdown file of the repository, outside build output, installed tools and
/// hidden folders.
fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            markdown_files(&path, found);
        } else if name.ends_with(".md") {
            found.push(path);
        }
    }
}

fn options() -> Options<'static> {
    let mut options = Options::default();
    options.extension.table = true;
    options.extension.autolink = true;
    options.extension.strikethrough = true;
    options.extension.footnotes = true;
    options
}

/// The text of a node as GitHub anchors it: its text and code spans.
fn plain_text<'a>(node: &'a AstNode<'a>) -> String {
    node.descendants()
        .filter_map(|child| match &child.data.borrow().value {
            NodeValue::Text(text) => Some(text.to_string()),
            NodeValue::Code(code) => Some(code.literal.clone()),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings, and the destination of each of its links.
fn anchors_and_links(path: &Path) -> (HashSet<String>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let arena = Arena::new();
    let document = parse_document(&arena, &text, &options());
    let mut anchorizer = Anchorizer::new();
    let mut anchors = HashSet::new();
    let mut links = Vec::new();
    for node in document.descendants() {
        match &node.data.borrow().value {
            NodeValue::Heading(_) => {
                anchors.insert(anchorizer.anchorize(&plain_text(node)));
            }
            NodeValue::Link(link) | NodeValue::Image(link) => links.push(link.url.clone()),
            _ => {}
        }
    }
    (anchors, links)
}

/// What is wrong with one link of `file`, if anything.
fn problem(file: &Path, url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        return (host.is_empty() || host.contains(' ')).then(|| format!("`{url}` has no host"));
    }
    if url.starts_with("mailto:") {
        return None;
    }
    if url.contains("://") {
        return Some(format!("`{url}` is not https"));
    }
    let (target, fragment) = url.split_once('#').unwrap_or((url, ""));
    let target_path = if target.is_empty() {
        file.to_path_buf()
    } else {
        file.parent().unwrap().join(target)
    };
    let Ok(resolved) = target_path.canonicalize() else {
        return Some(format!("`{url}`: no such file or folder"));
    };
    if !resolved.starts_with(root().canonicalize().unwrap()) {
        return Some(format!("`{url}` leads outside the repository"));
    }
    if fragment.is_empty() {
        return None;
    }
    if resolved.extension().is_some_and(|ext| ext == "md") {
        let (anchors, _) = anchors_and_links(&resolved);
        return (!anchors.contains(fragment))
            .then(|| format!("`{url}`: no heading with the anchor `#{fragment}`"));
    }
    // A line of a source file, as GitHub links one.
    let is_line = |part: &str| {
        part.strip_prefix('L')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    (!fragment.split('-').all(is_line)).then(|| format!("`{url}`: `#{fragment}` is not a line"))
}

#[test]
fn every_link_in_the_documentation_leads_somewhere() {
    let mut files = Vec::new();
    markdown_files(&root(), &mut files);
    files.sort();
    for expected in ["README.md", "docs/interactive.md", "docs/reference.md"] {
        assert!(
            files.contains(&root().join(expected)),
            "{expected} not found"
        );
    }
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        for url in anchors_and_links(file).1 {
            checked += 1;
            if let Some(problem) = problem(file, &url) {
                let name = file.strip_prefix(root()).unwrap().display().to_string();
                problems.push(format!("{name}: {problem}"));
            }
        }
    }
    // The README alone links a dozen pages: far fewer means the parser missed links.
    assert!(
        checked > 25,
        "only {checked} links found: is the parser reading links?"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

/// The checker itself: it finds what it must.
#[test]
fn the_link_checker_catches_a_missing_file_a_missing_heading_and_plain_http() {
    let readme = root().join("README.md");
    assert_eq!(problem(&readme, "docs/interactive.md#apply"), None);
    assert!(problem(&readme, "docs/nowhere.md").is_some());
    assert!(problem(&readme, "docs/interactive.md#no-such-heading").is_some());
    assert!(problem(&readme, "#exit-codes").is_none());
    assert!(problem(&readme, "http://example.com/").is_some());
    assert!(problem(&readme, "../../etc/passwd").is_some());
    assert_eq!(problem(&readme, "src/main.rs#L10-L20"), None);
}

/// The README stays a page a newcomer finishes: what keytrim does, the two commands,
/// install, the three ways to use it, exit codes, and links to the rest.
#[test]
fn the_readme_stays_short_and_links_every_guide() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 420,
        "README.md has {lines} lines; move detail under docs/"
    );
    for guide in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = guide.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            readme.contains(&format!("](docs/{name})")),
            "README.md does not link docs/{name}"
        );
    }
}
