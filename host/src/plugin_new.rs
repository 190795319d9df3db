//! `host plugin new NAME [--lang rust|python] [--dir DIR] [--sdk CHECKOUT]`: a plugin project of
//! its own, outside this repository, that builds with one command and no edit: a manifest, a
//! working example stage (a decimal filter), native unit tests and a README with the build, test
//! and pipeline snippets. The files are the templates under `host/templates/plugin/`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use host::runtime::CONTRACT_VERSION;

use crate::cli::PluginLang;
use crate::exit;
use crate::pipeline_cmd::InvalidConfig;

/// One file of a template: its text, where it goes in the project, whether it is a script.
struct TemplateFile {
    text: &'static str,
    path: &'static str,
    executable: bool,
}

const fn file(text: &'static str, path: &'static str) -> TemplateFile {
    TemplateFile { text, path, executable: false }
}

const fn script(text: &'static str, path: &'static str) -> TemplateFile {
    TemplateFile { text, path, executable: true }
}

const RUST: &[TemplateFile] = &[
    file(include_str!("../templates/plugin/rust/Cargo.toml"), "Cargo.toml"),
    file(include_str!("../templates/plugin/rust/rust-toolchain.toml"), "rust-toolchain.toml"),
    file(include_str!("../templates/plugin/rust/src/lib.rs"), "src/lib.rs"),
    file(include_str!("../templates/plugin/rust/README.md"), "README.md"),
    file(include_str!("../templates/plugin/rust/gitignore"), ".gitignore"),
];

const PYTHON: &[TemplateFile] = &[
    file(include_str!("../templates/plugin/python/app.py"), "app.py"),
    file(include_str!("../templates/plugin/python/test_app.py"), "test_app.py"),
    script(include_str!("../templates/plugin/python/build.sh"), "build.sh"),
    script(include_str!("../templates/plugin/python/test.sh"), "test.sh"),
    file(include_str!("../templates/plugin/python/README.md"), "README.md"),
    file(include_str!("../templates/plugin/python/gitignore"), ".gitignore"),
];

/// The checkout of this repository the binary was built from: where the SDKs are found when
/// `--sdk` is not given.
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Names Cargo or Python refuse for a package, a crate or a class.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen",
    "alloc",
    "core",
    "std",
    "proc_macro",
    "proc-macro",
    "test",
    "build",
    "deps",
    "examples",
    "incremental",
    "none",
    "etl_sdk",
    "etl-sdk",
    "etl_stage",
    "app",
];

#[derive(Debug)]
pub struct NewArgs<'a> {
    pub name: &'a str,
    pub lang: PluginLang,
    pub dir: Option<&'a Path>,
    pub sdk: Option<&'a Path>,
}

pub fn new(args: &NewArgs<'_>) -> Result<u8> {
    check_name(args.name)?;
    let dir = args.dir.map_or_else(|| PathBuf::from(args.name), Path::to_path_buf);
    let sdk = find_sdk(args.sdk, args.lang)?;
    let values = Values::new(args.name, &sdk, args.lang)?;
    let files = match args.lang {
        PluginLang::Rust => RUST,
        PluginLang::Python => PYTHON,
    };
    create_dir(&dir)?;
    for template in files {
        write_file(&dir.join(template.path), &values.fill(template.text), template.executable)?;
    }
    let mut out = std::io::stdout().lock();
    let lang = match args.lang {
        PluginLang::Rust => "Rust",
        PluginLang::Python => "Python",
    };
    writeln!(out, "created the {lang} plugin `{}` in {}", args.name, dir.display())?;
    writeln!(out, "  build: cd {} && {}", dir.display(), build_command(args.lang))?;
    writeln!(out, "  makes: {}", dir.join(component_path(args.lang, args.name)).display())?;
    writeln!(out, "  then:  see {} for testing it and using it in a pipeline", dir.join("README.md").display())?;
    Ok(exit::SUCCESS)
}

/// The one command that builds a generated project, as its README gives it.
fn build_command(lang: PluginLang) -> &'static str {
    match lang {
        PluginLang::Rust => "cargo build --release --target wasm32-wasip2",
        PluginLang::Python => "./build.sh",
    }
}

/// Where a generated project's component is, relative to the project.
fn component_path(lang: PluginLang, name: &str) -> PathBuf {
    let file = format!("{}.wasm", name.replace('-', "_"));
    match lang {
        PluginLang::Rust => Path::new("target/wasm32-wasip2/release").join(file),
        PluginLang::Python => PathBuf::from(file),
    }
}

/// A plugin name: a lowercase letter, then lowercase letters, digits, `-` or `_` (64 at most,
/// not ending in either), and no name Cargo or Python reserves. It names the package, the
/// crate (`-` as `_`), the component file and the stage's class.
fn check_name(name: &str) -> Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.ends_with(['-', '_'])
        && !name.contains("--")
        && !name.contains("__");
    if !valid {
        return Err(InvalidConfig(format!(
            "plugin name {:?} is not valid: use a lowercase letter, then lowercase letters, digits, `-` or `_` \
             (at most 64, e.g. `high-value`)",
            host::untrusted::escape(name)
        ))
        .into());
    }
    if RESERVED.contains(&name) || RESERVED.contains(&name.replace('-', "_").as_str()) {
        return Err(InvalidConfig(format!(
            "plugin name `{name}` is reserved by Rust, Cargo or Python: choose another"
        ))
        .into());
    }
    Ok(())
}

/// The SDK checkout: `--sdk`, else the one this binary was built from; it must hold the SDK of
/// the language asked for.
fn find_sdk(given: Option<&Path>, lang: PluginLang) -> Result<PathBuf> {
    let root = given.map_or_else(|| PathBuf::from(BUILT_FROM), Path::to_path_buf);
    let marker = match lang {
        PluginLang::Rust => "plugins/sdk/Cargo.toml",
        PluginLang::Python => "plugins/sdk-python/build.sh",
    };
    match fs::canonicalize(root.join(marker)) {
        Ok(_) => Ok(fs::canonicalize(&root)?),
        Err(_) if given.is_some() => {
            Err(InvalidConfig(format!("--sdk {}: no {marker} there (give a checkout of etl-host)", root.display()))
                .into())
        }
        Err(_) => Err(InvalidConfig(format!(
            "cannot find the SDK: this host was built from {}, which has no {marker} any more; pass --sdk \
             with a checkout of etl-host",
            root.display()
        ))
        .into()),
    }
}

/// What the templates' `{{...}}` markers stand for.
struct Values {
    pairs: Vec<(&'static str, String)>,
}

impl Values {
    fn new(name: &str, sdk: &Path, lang: PluginLang) -> Result<Values> {
        let mut pairs = vec![
            ("name", name.to_owned()),
            ("lib", name.replace('-', "_")),
            ("type", camel_case(name)),
            ("contract", CONTRACT_VERSION.to_string()),
        ];
        match lang {
            PluginLang::Rust => {
                let sdk = sdk.join("plugins/sdk");
                let manifest = sdk.join("Cargo.toml");
                let text =
                    fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
                pairs.push((
                    "sdk_version",
                    caret_version(&text).with_context(|| format!("{}: no version", manifest.display()))?,
                ));
                pairs.push(("sdk", toml_path(&sdk)?));
            }
            PluginLang::Python => pairs.push(("sdk_python", shell_path(&sdk.join("plugins/sdk-python"))?)),
        }
        Ok(Values { pairs })
    }

    fn fill(&self, template: &str) -> String {
        let mut text = template.to_owned();
        for (key, value) in &self.pairs {
            text = text.replace(&format!("{{{{{key}}}}}"), value);
        }
        text
    }
}

/// `high-value_2` → `HighValue2`.
fn camel_case(name: &str) -> String {
    name.split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The SDK's `version = "0.2.1"` as the requirement `0.2` (any compatible release).
fn caret_version(manifest: &str) -> Option<String> {
    let line = manifest.lines().find(|l| l.starts_with("version = \""))?;
    let version = line.strip_prefix("version = \"")?.strip_suffix('"')?;
    let mut parts = version.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    Some(if major == "0" { format!("{major}.{minor}") } else { major.to_owned() })
}

/// A path written into a TOML basic string.
fn toml_path(path: &Path) -> Result<String> {
    let text = path.to_str().with_context(|| format!("the SDK's path {} is not UTF-8", path.display()))?;
    if text.chars().any(|c| c.is_control()) {
        bail!("the SDK's path {:?} has control characters", text);
    }
    Ok(text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A path written inside double quotes in a shell script.
fn shell_path(path: &Path) -> Result<String> {
    let text = path.to_str().with_context(|| format!("the SDK's path {} is not UTF-8", path.display()))?;
    if text.chars().any(|c| c.is_control() || matches!(c, '"' | '$' | '`' | '\\' | '}')) {
        bail!("the SDK's path {text:?} has characters a build script cannot quote; pass --sdk with another checkout");
    }
    Ok(text.to_owned())
}

/// The project directory: created, or empty if it exists.
fn create_dir(dir: &Path) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(InvalidConfig(format!("{} exists and is not empty", dir.display())).into());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

fn write_file(path: &Path, text: &str, executable: bool) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_grammar() {
        for good in ["high-value", "a", "filter_2", "x1-y2_z3"] {
            check_name(good).unwrap();
        }
        for bad in ["", "High", "1up", "-x", "x-", "x_", "a--b", "a__b", "a.b", "a b", "é", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for reserved in ["test", "std", "self", "none", "proc-macro", "app"] {
            assert!(check_name(reserved).unwrap_err().to_string().contains("reserved"), "{reserved}");
        }
    }

    #[test]
    fn fills_every_marker() {
        assert_eq!(camel_case("high-value_2"), "HighValue2");
        assert_eq!(caret_version("[package]\nname = \"etl-sdk\"\nversion = \"0.2.1\"\n").as_deref(), Some("0.2"));
        assert_eq!(caret_version("version = \"1.4.0\"").as_deref(), Some("1"));
        let values = Values {
            pairs: vec![
                ("name", "a".into()),
                ("lib", "a".into()),
                ("type", "A".into()),
                ("contract", "0.2.0".into()),
                ("sdk", "/s".into()),
                ("sdk_version", "0.2".into()),
                ("sdk_python", "/p".into()),
            ],
        };
        for template in RUST.iter().chain(PYTHON) {
            let text = values.fill(template.text);
            assert!(!text.contains("{{"), "{} keeps a marker: {text}", template.path);
        }
    }

    #[test]
    fn quotes_paths_or_refuses_them() {
        assert_eq!(toml_path(Path::new(r#"/a "b"\c"#)).unwrap(), r#"/a \"b\"\\c"#);
        assert!(toml_path(Path::new("/a\nb")).is_err());
        assert_eq!(shell_path(Path::new("/opt/etl host")).unwrap(), "/opt/etl host");
        for bad in ["/a$b", "/a`b", "/a\"b", "/a\\b"] {
            assert!(shell_path(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
