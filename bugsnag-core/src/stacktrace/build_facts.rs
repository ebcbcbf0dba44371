//! Which frames are the application's, from facts of the build rather than of the run.
//!
//! A service rarely runs from its source tree (systemd starts it in `/`, a container runs
//! a binary built in another stage, a binary is copied to `/usr/local/bin`), so the
//! working directory says nothing. The debug information does: cargo gives rustc the root
//! file of each of the workspace's own crates relative to the workspace root (its
//! working directory), and every other crate's by an absolute path (the registry, git
//! checkouts, vendored crates) or under `/rustc/` (the standard library). rustc records
//! that path as each compilation unit's name (`DW_AT_name`) and the working directory as
//! its `DW_AT_comp_dir`. So the workspace root is the compilation directory of the units
//! named relatively (one, unless crates were built with different remappings), and a
//! frame is the workspace's when its file lies under a root but under none of the
//! absolute directories the line tables name there (a vendored crate inside the
//! workspace, generated code in `target/`). That holds wherever the binary runs, and with
//! `--remap-path-prefix` (names and directories are remapped alike). Split debug
//! information leaves units nameless in the binary (the names are in the `.dwo` files):
//! then every compilation directory outside the registry, git checkouts and the standard
//! library is a root.
//!
//! Without debug information (a binary stripped to its symbols), the crate of the
//! program's `main`, read from the symbol table, is the workspace's.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol};

use super::mapped::Mapped;

/// Crates a program's `main` cannot be in.
const NOT_MAIN: &[&str] = &["std", "core", "alloc", "test", "proc_macro"];

/// What one object file's build says about its frames.
#[derive(Debug, Default, Clone)]
pub(crate) struct BuildFacts {
    /// The workspace roots it was built in (as recorded, remapped or not), longest first;
    /// none without debug information.
    roots: Vec<PathBuf>,
    /// Absolute source directories under a root that are not the workspace's own.
    foreign: Vec<PathBuf>,
    /// The crate of the program's `main`, from the symbol table.
    pub(crate) main_crate: Option<String>,
}

impl BuildFacts {
    /// The facts of the object file at `path`, whose debug information is in
    /// `debug_file` (itself, or a separate file its debug link names).
    pub(crate) fn read(path: &Path, debug_file: &Path) -> Self {
        let mut facts = Self::default();
        if let Ok(data) = Mapped::open(debug_file) {
            if let Some((roots, foreign)) = workspace(&data) {
                facts.roots = roots;
                facts.foreign = foreign;
            }
        }
        facts.main_crate = Mapped::open(path).ok().and_then(|data| main_crate(&data));
        if facts.main_crate.is_none() && debug_file != path {
            facts.main_crate = Mapped::open(debug_file).ok().and_then(|data| main_crate(&data));
        }
        facts
    }

    /// `file` relative to the workspace root, when it is a source of the workspace's own.
    pub(crate) fn workspace_file(&self, file: &Path) -> Option<PathBuf> {
        if file.starts_with("/rustc/") || self.foreign.iter().any(|dir| file.starts_with(dir)) {
            return None;
        }
        let relative = self.roots.iter().find_map(|root| {
            // A root remapped to nothing leaves the workspace's paths relative.
            if root.as_os_str().is_empty() {
                file.is_relative().then_some(file)
            } else {
                file.strip_prefix(root).ok()
            }
        })?;
        Some(relative.to_path_buf())
    }
}

/// Units read between two releases of the pages read (see [`Mapped::release`]), so that
/// reading every unit's header never keeps the whole file resident.
const UNITS_PER_RELEASE: usize = 32;

/// The workspace roots and the foreign directories under them, from the line tables.
fn workspace(mapped: &Mapped) -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
    let data: &[u8] = mapped;
    let object = object::File::parse(data).ok()?;
    let endian = if object.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
    let sections = gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, ()> {
        Ok(object.section_by_name(id.name()).and_then(|s| s.uncompressed_data().ok()).unwrap_or_default())
    })
    .ok()?;
    let dwarf = sections.borrow(|section| gimli::EndianSlice::new(section, endian));
    let text =
        |value: gimli::EndianSlice<'_, gimli::RunTimeEndian>| String::from_utf8_lossy(value.slice()).into_owned();

    let mut roots: HashSet<String> = HashSet::new();
    let mut absolute: HashSet<String> = HashSet::new();
    let mut headers = dwarf.units();
    let mut read = 0;
    while let Ok(Some(header)) = headers.next() {
        read += 1;
        if read % UNITS_PER_RELEASE == 0 {
            mapped.release();
        }
        let Ok(unit) = dwarf.unit(header) else { continue };
        let Some(program) = &unit.line_program else { continue };
        let header = program.header();
        // DWARF 5 lists the compilation directory as directory 0; DWARF 4 leaves it out.
        let skip = usize::from(header.version() >= 5);
        let mut relative = false;
        for dir in header.include_directories().iter().skip(skip) {
            let Ok(dir) = dwarf.attr_string(&unit, *dir) else { continue };
            let dir = text(dir);
            if dir.starts_with('/') {
                absolute.insert(dir);
            } else {
                relative = true;
            }
        }
        for file in header.file_names().iter().filter(|f| f.directory_index() == 0) {
            let Ok(name) = dwarf.attr_string(&unit, file.path_name()) else { continue };
            let name = text(name);
            match name.rsplit_once('/') {
                Some((dir, _)) if name.starts_with('/') => {
                    absolute.insert(dir.to_owned());
                }
                _ => relative = true,
            }
        }
        let comp_dir = unit.comp_dir.map(text).unwrap_or_default();
        let named_relatively = match unit.name {
            Some(name) => !name.slice().starts_with(b"/"),
            // A split unit's skeleton: no name here.
            None => relative && !is_dependency_dir(&comp_dir),
        };
        if named_relatively && !comp_dir.starts_with("/rustc/") {
            roots.insert(comp_dir);
        }
    }
    if roots.is_empty() {
        return None;
    }
    let mut roots: Vec<PathBuf> = roots.into_iter().map(PathBuf::from).collect();
    // The most specific root first, for a workspace inside another's directory.
    roots.sort_by_key(|root| std::cmp::Reverse(root.as_os_str().len()));
    let under_a_root =
        |dir: &Path| roots.iter().any(|root| !root.as_os_str().is_empty() && dir.starts_with(root) && dir != root);
    let foreign = absolute.into_iter().map(PathBuf::from).filter(|dir| under_a_root(dir)).collect();
    Some((roots, foreign))
}

/// The crate of the program's `main`, read from the executable's name: cargo names a
/// binary after its crate, and a test binary `<crate>-<16 hex digits>`. What decides
/// when the symbol table does not (see `build_facts`).
pub(crate) fn main_crate_by_name() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_str()?;
    let name = match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => name,
        _ => stem,
    };
    Some(name.replace('-', "_"))
}

/// Where cargo unpacks dependencies (the registry, git checkouts) and where the standard
/// library's own dependencies were built.
fn is_dependency_dir(dir: &str) -> bool {
    dir.contains("/registry/src/") || dir.contains("/git/checkouts/") || dir.starts_with("/rust/deps/")
}

/// The crate of the program's `main` (`shop` for `shop::main`), when the symbol table
/// names exactly one.
fn main_crate(data: &[u8]) -> Option<String> {
    let object = object::File::parse(data).ok()?;
    let mut crates: Vec<String> = object
        .symbols()
        .filter_map(|symbol| {
            let name = symbol.name().ok()?;
            // Legacy mangling spells `…::main::h<hash>` as `4main17h`; v0 as `4main`.
            if !(name.contains("4main17h") || (name.starts_with("_R") && name.ends_with("4main"))) {
                return None;
            }
            let path = format!("{:#}", rustc_demangle::demangle(name));
            let (krate, function) = path.split_once("::")?;
            (function == "main" && !NOT_MAIN.contains(&krate)).then(|| krate.to_owned())
        })
        .collect();
    crates.sort();
    crates.dedup();
    match crates.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

/// Where the debug information of the object file at `path` is: in the file itself, or
/// in the separate file its `.gnu_debuglink` names (`objcopy --only-keep-debug`), looked
/// for where GDB looks: beside it, in `.debug/` beside it, and under `/usr/lib/debug`.
pub(crate) fn debug_file(path: &Path) -> PathBuf {
    let linked = || -> Option<PathBuf> {
        let data = Mapped::open(path).ok()?;
        let object = object::File::parse(&*data).ok()?;
        if object.section_by_name(".debug_info").is_some_and(|s| s.size() > 0) {
            return None;
        }
        let (name, _crc) = object.gnu_debuglink().ok()??;
        let name = Path::new(std::str::from_utf8(name).ok()?);
        let dir = path.parent()?;
        let global = Path::new("/usr/lib/debug").join(dir.strip_prefix("/").unwrap_or(dir));
        [dir.join(name), dir.join(".debug").join(name), global.join(name)]
            .into_iter()
            .find(|candidate| super::mapped::open_regular(candidate).is_ok())
    };
    linked().unwrap_or_else(|| path.to_path_buf())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_knows_its_workspace() {
        let exe = std::env::current_exe().unwrap();
        let facts = BuildFacts::read(&exe, &debug_file(&exe));
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(facts.roots, [workspace], "{facts:?}");
        let this = Path::new(env!("CARGO_MANIFEST_DIR")).join(file!().trim_start_matches("bugsnag-core/"));
        assert_eq!(facts.workspace_file(&this).as_deref(), Some(Path::new(file!())));
        let registry = Path::new("/root/.cargo/registry/src/x/tokio-1.0.0/src/lib.rs");
        assert_eq!(facts.workspace_file(registry), None);
        assert_eq!(facts.workspace_file(Path::new("/rustc/abc/library/std/src/rt.rs")), None);
    }
}
