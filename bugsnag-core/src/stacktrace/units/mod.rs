//! The symbols and line tables of one object file, read a compilation unit at a time.
//!
//! A program's debug information is a hundred megabytes in hundreds of compilation
//! units, and a report needs a few of them. addr2line's loader parses every unit's
//! header, abbreviations and line-program header up front: 40 MB of memory for a 230 MB
//! test binary, and a page of the file read per unit, which the kernel maps in 64 KB
//! runs (another 90 MB resident). Here the unit of an address is found in
//! `.debug_aranges` and only it is parsed (and, for the names of functions inlined from
//! elsewhere, the units its references lead to), a few kept, the least recently used
//! dropped. What is read of a unit is what addr2line reads, in the same way (its
//! subprograms and their inlined calls, the line table, names through abstract origins
//! and specifications), and a test holds the two to the same answers. Files it does not
//! cover (no `.debug_aranges`, compressed sections, split or supplementary debug
//! information) are read by addr2line's loader as before.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::cmp::Ordering;
use std::path::Path;
use std::rc::Rc;

use addr2line::gimli::{self, Section as _};
use object::{Object, ObjectSection};

use super::mapped::Mapped;

mod entries;

type Slice = gimli::EndianSlice<'static, gimli::RunTimeEndian>;
type Offset = gimli::UnitOffset<usize>;

/// Units kept parsed, the most recently used.
const KEPT_UNITS: usize = 8;
/// Abstract origins and specifications followed for a name, as addr2line does.
const NAME_DEPTH: usize = 16;

/// One frame of an address: a function (the innermost first, when calls were inlined)
/// and where in its source.
pub(crate) struct FoundFrame {
    pub(crate) method: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) column: Option<u32>,
}

/// The symbols and line tables of one object file.
pub(crate) enum ObjectSymbols {
    ByUnit(Box<ByUnit>),
    Whole(Box<addr2line::Loader>),
}

impl ObjectSymbols {
    /// Reads the object file at `path` (a regular file, checked by the caller).
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        if let Some(by_unit) = super::mapped::for_process(path).ok().and_then(|m| ByUnit::read(m, path)) {
            return Ok(Self::ByUnit(Box::new(by_unit)));
        }
        addr2line::Loader::new(path).map(|loader| Self::Whole(Box::new(loader))).map_err(|e| e.to_string())
    }

    /// The frames of the address `svma` (as the file states it), innermost first.
    pub(crate) fn frames(&self, svma: u64) -> Vec<FoundFrame> {
        match self {
            Self::ByUnit(by_unit) => match by_unit.frames(svma) {
                Some(frames) => frames,
                // A split unit: its entries are in a `.dwp` or `.dwo` file.
                None => {
                    by_unit.whole().and_then(|loader| loader.find_frames(svma).ok()).map(collect).unwrap_or_default()
                }
            },
            Self::Whole(loader) => loader.find_frames(svma).map(collect).unwrap_or_default(),
        }
    }

    /// The symbol-table name of the function at `svma`.
    pub(crate) fn symbol(&self, svma: u64) -> Option<&str> {
        match self {
            Self::ByUnit(by_unit) => by_unit.symbols.containing(svma).map(|s| s.name()),
            Self::Whole(loader) => loader.find_symbol(svma),
        }
    }

    #[cfg(test)]
    fn is_by_unit(&self) -> bool {
        matches!(self, Self::ByUnit(_))
    }
}

fn collect<R: gimli::Reader>(mut iter: addr2line::FrameIter<'_, R>) -> Vec<FoundFrame> {
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = iter.next() {
        let location = frame.location.as_ref();
        frames.push(FoundFrame {
            method: frame.function.as_ref().and_then(|f| f.raw_name().ok()).map(Cow::into_owned),
            file: location.and_then(|l| l.file).map(str::to_owned),
            line: location.and_then(|l| l.line),
            column: location.and_then(|l| l.column),
        });
    }
    frames
}

/// A file read a unit at a time.
pub(crate) struct ByUnit {
    /// The file, whose pages are given back once what was needed of them is read.
    mapped: &'static Mapped,
    dwarf: gimli::Dwarf<Slice>,
    /// Address ranges, sorted by start, each with the offset of its unit.
    ranges: Vec<(u64, u64, usize)>,
    /// The offsets of the units `ranges` names, sorted: where a reference's unit is
    /// looked for.
    starts: Vec<usize>,
    /// Units parsed, the most recently used last.
    units: RefCell<Vec<Rc<Unit>>>,
    symbols: object::SymbolMap<object::SymbolMapName<'static>>,
    /// The file's path, and addr2line's loader of it, made the first time an address is
    /// in a split unit (whose entries are in another file, which the loader finds).
    path: std::path::PathBuf,
    whole: OnceCell<Option<addr2line::Loader>>,
}

/// One unit, parsed, and what was read of it.
struct Unit {
    offset: usize,
    unit: gimli::Unit<Slice>,
    /// Subprograms with code: their ranges, sorted by start, and offsets.
    functions: OnceCell<Vec<(gimli::Range, Offset)>>,
    lines: OnceCell<Lines>,
}

/// A unit's line table: its files, and its sequences of rows.
#[derive(Default)]
struct Lines {
    files: Vec<String>,
    /// Start, end and rows of each sequence, by start.
    sequences: Vec<(u64, u64, Vec<Row>)>,
}

/// A row of a line table: address, file index, line and column.
type Row = (u64, u64, u32, u32);

/// A call inlined into a function: its name, where it was called from, and its depth.
struct Inlined {
    name: Option<Slice>,
    call_file: Option<u64>,
    call_line: u32,
    call_column: u32,
}

impl ByUnit {
    /// `None` when the file cannot be read a unit at a time.
    fn read(mapped: &'static Mapped, path: &Path) -> Option<Self> {
        let data: &'static [u8] = mapped;
        let object = object::File::parse(data).ok()?;
        let endian = if object.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
        let dwarf = gimli::Dwarf::load(|id| -> Result<Slice, ()> {
            match object.section_by_name(id.name()).map(|s| s.uncompressed_data()) {
                None => Ok(gimli::EndianSlice::new(&[], endian)),
                Some(Ok(Cow::Borrowed(data))) => Ok(gimli::EndianSlice::new(data, endian)),
                // Compressed: addr2line's loader keeps what it decompresses.
                Some(_) => Err(()),
            }
        })
        .ok()?;
        let split = [".gnu_debugaltlink", ".debug_sup"].iter().any(|name| object.section_by_name(name).is_some());
        if split || !dwarf.debug_types.reader().is_empty() {
            return None;
        }
        let mut ranges = Vec::new();
        let mut headers = dwarf.debug_aranges.headers();
        while let Ok(Some(header)) = headers.next() {
            let unit = header.debug_info_offset().0;
            let mut entries = header.entries();
            while let Ok(Some(entry)) = entries.next() {
                let range = entry.range();
                if range.end > range.begin {
                    ranges.push((range.begin, range.end, unit));
                }
            }
        }
        if ranges.is_empty() {
            return None;
        }
        ranges.sort_unstable();
        let mut starts: Vec<usize> = ranges.iter().map(|r| r.2).collect();
        starts.sort_unstable();
        starts.dedup();
        // Every symbol's name is read to make the map: tens of megabytes of the file.
        let symbols = object.symbol_map();
        mapped.release();
        let (path, whole) = (path.to_path_buf(), OnceCell::new());
        Some(Self { mapped, dwarf, ranges, starts, units: RefCell::default(), symbols, path, whole })
    }

    /// addr2line's loader of the whole file, for split units.
    fn whole(&self) -> Option<&addr2line::Loader> {
        self.whole.get_or_init(|| addr2line::Loader::new(&self.path).ok()).as_ref()
    }

    /// The frames of `svma`; `None` when its unit is split (see [`Self::whole`]).
    fn frames(&self, svma: u64) -> Option<Vec<FoundFrame>> {
        let at = self.ranges.partition_point(|&(begin, _, _)| begin <= svma);
        let Some(&(_, end, offset)) = at.checked_sub(1).map(|i| &self.ranges[i]) else { return Some(Vec::new()) };
        if svma >= end {
            return Some(Vec::new());
        }
        let Some(unit) = self.unit(offset) else { return Some(Vec::new()) };
        if unit.is_split() {
            return None;
        }
        let first_use = unit.functions.get().is_none();
        let functions = unit.functions.get_or_init(|| self.functions(&unit).unwrap_or_default());
        let lines = unit.lines.get_or_init(|| self.lines(&unit).unwrap_or_default());
        if first_use {
            // A unit's entries and line table, read whole once: not kept resident.
            self.mapped.release();
        }
        let location = lines.find(svma);
        let found = functions.binary_search_by(|(range, _)| towards(range.begin, range.end, svma)).ok();
        let Some(index) = found else {
            return Some(location.map(|location| vec![location]).unwrap_or_default());
        };
        let Ok((name, inlined)) = self.function(&unit, functions[index].1, svma) else { return Some(Vec::new()) };
        // Innermost first: each inlined call at the location the line table (or the
        // call inlined in it) gives, then the function at the call of its outermost one.
        let mut frames = Vec::new();
        let mut next = location.map(|l| (l.file, l.line, l.column));
        for call in inlined.iter().rev() {
            let (file, line, column) = next.take().unwrap_or_default();
            frames.push(FoundFrame { method: self.text(call.name), file, line, column });
            let file = call.call_file.and_then(|f| lines.files.get(f as usize)).cloned();
            next = Some((
                file,
                (call.call_line != 0).then_some(call.call_line),
                (call.call_column != 0).then_some(call.call_column),
            ));
        }
        let (file, line, column) = next.unwrap_or_default();
        frames.push(FoundFrame { method: self.text(name), file, line, column });
        Some(frames)
    }

    fn text(&self, name: Option<Slice>) -> Option<String> {
        name.map(|n| String::from_utf8_lossy(n.slice()).into_owned())
    }

    /// The unit at `offset`, parsed (kept among the most recently used).
    fn unit(&self, offset: usize) -> Option<Rc<Unit>> {
        let mut units = self.units.borrow_mut();
        if let Some(at) = units.iter().position(|u| u.offset == offset) {
            let unit = units.remove(at);
            units.push(unit.clone());
            return Some(unit);
        }
        let header = self.dwarf.debug_info.header_from_offset(gimli::DebugInfoOffset(offset)).ok()?;
        let unit = Rc::new(Unit {
            offset,
            unit: self.dwarf.unit(header).ok()?,
            functions: OnceCell::new(),
            lines: OnceCell::new(),
        });
        if units.len() >= KEPT_UNITS {
            units.remove(0);
        }
        units.push(unit.clone());
        Some(unit)
    }

    /// The unit holding the entry at `offset` of `.debug_info`, and the entry's offset in it.
    fn unit_of(&self, offset: usize) -> Option<(Rc<Unit>, Offset)> {
        let at = self.starts.partition_point(|&start| start <= offset);
        let mut start = at.checked_sub(1).map_or(0, |i| self.starts[i]);
        // A unit without code is in no range: walk from the one before it.
        loop {
            let header = self.dwarf.debug_info.header_from_offset(gimli::DebugInfoOffset(start)).ok()?;
            let end = start + header.length_including_self();
            if offset < end {
                let unit = self.unit(start)?;
                let entry = gimli::DebugInfoOffset(offset).to_unit_offset(&unit.unit.header)?;
                return Some((unit, entry));
            }
            start = end;
        }
    }
}

/// Where `[begin, end)` stands from `probe`, for a binary search of ranges sorted by
/// start: `Equal` when it holds it.
fn towards(begin: u64, end: u64, probe: u64) -> Ordering {
    if probe < begin {
        Ordering::Greater
    } else if probe >= end {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

impl Unit {
    /// A skeleton of a split unit: its functions are in another file.
    fn is_split(&self) -> bool {
        self.unit.dwo_id.is_some()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Read a unit at a time, this test program's addresses resolve exactly as
    /// addr2line's loader resolves them reading every unit.
    #[test]
    fn units_read_alone_resolve_as_the_whole_file() {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let by_unit = ObjectSymbols::load(&exe).unwrap();
        assert!(by_unit.is_by_unit(), "this test program's units are self-contained");
        let whole = ObjectSymbols::Whole(Box::new(addr2line::Loader::new(&exe).unwrap()));
        let data = std::fs::read(&exe).unwrap();
        let object = object::File::parse(&*data).unwrap();
        let map = object.symbol_map();
        // Return addresses are in the code, where no function the linker dropped (given
        // address 0 in the debug information) can be.
        let text = object.section_by_name(".text").unwrap();
        let code = text.address()..text.address() + text.size();
        let functions: Vec<u64> = map.symbols().iter().map(|s| s.address()).filter(|a| code.contains(a)).collect();
        assert!(functions.len() > 1000, "{} functions", functions.len());
        let (mut compared, mut with_lines) = (0, 0);
        // Some hundreds of functions across the file, a few bytes in.
        for &address in functions.iter().step_by(functions.len() / 400) {
            let probe = address + 4;
            let (a, b) = (by_unit.frames(probe), whole.frames(probe));
            let show = |frames: &[FoundFrame]| -> Vec<String> {
                frames.iter().map(|f| format!("{:?} {:?}:{:?}:{:?}", f.method, f.file, f.line, f.column)).collect()
            };
            assert_eq!(show(&a), show(&b), "at {probe:#x}");
            assert_eq!(by_unit.symbol(probe), whole.symbol(probe));
            compared += 1;
            with_lines += usize::from(a.iter().any(|f| f.line.is_some()));
        }
        assert!(compared >= 400 && with_lines > compared / 2, "{with_lines} of {compared} with lines");
    }
}
