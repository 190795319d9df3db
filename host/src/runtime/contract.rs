//! The `etl:stage` contract version: which plugins this host can run.

use std::fmt;

/// The WIT package every stage plugin exports `stage` from.
pub const CONTRACT_PACKAGE: &str = "etl:stage";

/// The contract version this host was built with (the version in `wit/stage.wit`).
pub const CONTRACT_VERSION: ContractVersion = ContractVersion { major: 0, minor: 2, patch: 0 };

/// A semver version of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContractVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl ContractVersion {
    /// Parses `1.2.3` (no pre-release or build suffix: the contract has none).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let version = ContractVersion { major: parts.next()??, minor: parts.next()??, patch: parts.next()?? };
        parts.next().is_none().then_some(version)
    }

    /// The version of the `etl:stage/stage` interface a component exports, from its export
    /// name (`etl:stage/stage@0.1.0`): `Ok(None)` if it exports no such interface.
    pub fn of_export_name(name: &str) -> Option<Result<Self, String>> {
        let rest = name.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix("/stage")?;
        let version = rest.strip_prefix('@').unwrap_or("");
        Some(Self::parse(version).ok_or_else(|| format!("unreadable contract version in export `{name}`")))
    }

    /// Whether a plugin built for `plugin` can run on a host built for `self`: the same major
    /// version (for 0.x, the same minor version, as semver and the component model have it), and
    /// nothing newer than the host knows.
    pub fn accepts(self, plugin: ContractVersion) -> bool {
        let same_line =
            if self.major == 0 { plugin.major == 0 && plugin.minor == self.minor } else { plugin.major == self.major };
        same_line && plugin <= self
    }
}

impl fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> ContractVersion {
        ContractVersion::parse(text).unwrap()
    }

    #[test]
    fn matches_the_wit_file() {
        let wit = include_str!("../../../wit/stage.wit");
        let declared = format!("package {CONTRACT_PACKAGE}@{CONTRACT_VERSION};");
        assert!(wit.lines().any(|l| l == declared), "wit/stage.wit does not declare `{declared}`");
    }

    #[test]
    fn the_sdks_carry_the_contract_unchanged() {
        // The Rust SDK builds its bindings from its own copy, so that it builds outside this
        // repository; the Python SDK ships one too (its own test checks it as well).
        let wit = include_str!("../../../wit/stage.wit");
        assert!(
            include_str!("../../../plugins/sdk/wit/stage.wit") == wit,
            "plugins/sdk/wit/stage.wit differs from wit/stage.wit: copy it"
        );
        assert!(
            include_str!("../../../plugins/sdk-python/etl_stage/wit/stage.wit") == wit,
            "plugins/sdk-python/etl_stage/wit/stage.wit differs from wit/stage.wit: copy it"
        );
    }

    #[test]
    fn the_sdk_speaks_the_host_s_contract() {
        assert_eq!(etl_sdk::CONTRACT_VERSION, CONTRACT_VERSION.to_string());
        let manifest = include_str!("../../../plugins/sdk/Cargo.toml");
        let declared = format!("contract = \"{CONTRACT_VERSION}\"");
        assert!(manifest.lines().any(|l| l == declared), "plugins/sdk/Cargo.toml does not declare `{declared}`");
    }

    /// The SDK and etl-format name their dependencies' versions themselves (they build outside
    /// this workspace); within it, they must resolve to the versions the host uses: one of each
    /// crate in the lock file.
    #[test]
    fn the_sdk_and_the_host_use_the_same_arrow_and_serde() {
        let lock = include_str!("../../../Cargo.lock");
        for name in ["arrow-array", "arrow-buffer", "arrow-ipc", "arrow-schema", "arrow-select", "serde", "serde_json"]
        {
            let entries = lock.lines().filter(|l| *l == format!("name = \"{name}\"")).count();
            assert_eq!(
                entries, 1,
                "Cargo.lock has {entries} versions of {name}: align plugins/sdk/Cargo.toml and plugins/format/Cargo.toml with the workspace's"
            );
        }
    }

    #[test]
    fn reads_export_names() {
        assert_eq!(ContractVersion::of_export_name("etl:stage/stage@0.1.0"), Some(Ok(v("0.1.0"))));
        assert_eq!(ContractVersion::of_export_name("wasi:cli/run@0.2.0"), None);
        assert!(matches!(ContractVersion::of_export_name("etl:stage/stage"), Some(Err(_))));
    }

    #[test]
    fn accepts_compatible_versions_only() {
        assert!(v("0.1.0").accepts(v("0.1.0")));
        assert!(v("0.1.3").accepts(v("0.1.1")));
        assert!(!v("0.1.1").accepts(v("0.1.3")), "a newer patch may use what the host lacks");
        assert!(!v("0.1.0").accepts(v("0.2.0")));
        assert!(!v("0.2.0").accepts(v("0.1.0")));
        assert!(v("1.4.0").accepts(v("1.2.9")));
        assert!(!v("1.4.0").accepts(v("2.0.0")));
        assert!(!v("1.4.0").accepts(v("0.4.0")));
    }
}
