//! What is read of a unit's entries and line table, as addr2line reads them: its
//! subprograms with code, the calls inlined in one, names through abstract origins and
//! specifications (into other units too), and the rows of its line table.

use addr2line::gimli;

use super::{towards, ByUnit, FoundFrame, Inlined, Lines, Offset, Row, Slice, Unit, NAME_DEPTH};

impl ByUnit {
    /// The subprograms of `unit` that have code, as addr2line lists them.
    pub(super) fn functions(&self, unit: &Unit) -> gimli::Result<Vec<(gimli::Range, Offset)>> {
        let unit_ref = gimli::UnitRef::new(&self.dwarf, &unit.unit);
        let mut functions = Vec::new();
        let mut entries = unit_ref.entries_raw(None)?;
        while !entries.is_empty() {
            let offset = entries.next_offset();
            let Some(abbrev) = entries.read_abbreviation()? else { continue };
            if abbrev.tag() != gimli::DW_TAG_subprogram {
                entries.skip_attributes(abbrev.attributes())?;
                continue;
            }
            let mut ranges = Ranges::default();
            for spec in abbrev.attributes() {
                ranges.read(unit_ref, &entries.read_attribute(*spec)?)?;
            }
            ranges.each(unit_ref, |range| functions.push((range, offset)))?;
        }
        functions.sort_unstable_by_key(|(range, _)| range.begin);
        Ok(functions)
    }

    /// The line table of `unit`, as addr2line reads it.
    pub(super) fn lines(&self, unit: &Unit) -> gimli::Result<Lines> {
        let Some(program) = unit.unit.line_program.clone() else { return Ok(Lines::default()) };
        let unit_ref = gimli::UnitRef::new(&self.dwarf, &unit.unit);
        let mut lines = Lines::default();
        let mut rows = program.rows();
        let mut sequence: Vec<Row> = Vec::new();
        while let Some((_, row)) = rows.next_row()? {
            if row.end_sequence() {
                if let Some(&(start, ..)) = sequence.first() {
                    let end = row.address();
                    let taken = std::mem::take(&mut sequence);
                    if start < end {
                        lines.sequences.push((start, end, taken));
                    }
                }
                continue;
            }
            let line = row.line().map_or(0, |l| l.get() as u32);
            let column = match row.column() {
                gimli::ColumnType::LeftEdge => 0,
                gimli::ColumnType::Column(c) => c.get() as u32,
            };
            match sequence.last_mut() {
                Some(last) if last.0 == row.address() => *last = (row.address(), row.file_index(), line, column),
                _ => sequence.push((row.address(), row.file_index(), line, column)),
            }
        }
        lines.sequences.sort_unstable_by_key(|s| s.0);
        let header = rows.header();
        lines.files.push(match header.file(0) {
            Some(file) => render_file(unit_ref, file, header)?,
            None => String::new(),
        });
        let mut index = 1;
        while let Some(file) = header.file(index) {
            lines.files.push(render_file(unit_ref, file, header)?);
            index += 1;
        }
        Ok(lines)
    }

    /// The name of the subprogram at `offset` and the calls inlined in it that contain
    /// `svma`, outermost first.
    pub(super) fn function(
        &self,
        unit: &Unit,
        offset: Offset,
        svma: u64,
    ) -> gimli::Result<(Option<Slice>, Vec<Inlined>)> {
        let unit_ref = gimli::UnitRef::new(&self.dwarf, &unit.unit);
        let mut entries = unit_ref.entries_raw(Some(offset))?;
        let depth = entries.next_depth();
        let Some(abbrev) = entries.read_abbreviation()? else { return Ok((None, Vec::new())) };
        let mut name = Name::default();
        for spec in abbrev.attributes() {
            name.read(self, unit_ref, &entries.read_attribute(*spec)?)?;
        }
        // Each inlined call with its ranges and depth, as addr2line lists them.
        let mut calls: Vec<Inlined> = Vec::new();
        let mut addresses: Vec<(usize, gimli::Range, usize)> = Vec::new();
        let mut stack: Vec<isize> = vec![depth];
        loop {
            let next_depth = entries.next_depth();
            while stack.len() > 1 && next_depth <= *stack.last().unwrap_or(&depth) {
                stack.pop();
            }
            if next_depth <= depth || entries.is_empty() {
                break;
            }
            let Some(abbrev) = entries.read_abbreviation()? else { continue };
            match abbrev.tag() {
                gimli::DW_TAG_subprogram => {
                    // A nested function: not this one's, skipped whole.
                    entries.skip_attributes(abbrev.attributes())?;
                    while entries.next_depth() > next_depth {
                        if let Some(abbrev) = entries.read_abbreviation()? {
                            entries.skip_attributes(abbrev.attributes())?;
                        }
                    }
                }
                gimli::DW_TAG_inlined_subroutine => {
                    let mut ranges = Ranges::default();
                    let mut name = Name::default();
                    let mut call = Inlined { name: None, call_file: None, call_line: 0, call_column: 0 };
                    for spec in abbrev.attributes() {
                        let attr = entries.read_attribute(*spec)?;
                        ranges.read(unit_ref, &attr)?;
                        name.read(self, unit_ref, &attr)?;
                        match attr.name() {
                            gimli::DW_AT_call_file => {
                                if let gimli::AttributeValue::FileIndex(fi) = attr.value() {
                                    if fi > 0 || unit.unit.header.version() >= 5 {
                                        call.call_file = Some(fi);
                                    }
                                }
                            }
                            gimli::DW_AT_call_line => call.call_line = attr.udata_value().unwrap_or(0) as u32,
                            gimli::DW_AT_call_column => call.call_column = attr.udata_value().unwrap_or(0) as u32,
                            _ => {}
                        }
                    }
                    call.name = name.found;
                    let index = calls.len();
                    calls.push(call);
                    let call_depth = stack.len() - 1;
                    ranges.each(unit_ref, |range| addresses.push((call_depth, range, index)))?;
                    stack.push(next_depth);
                }
                _ => entries.skip_attributes(abbrev.attributes())?,
            }
        }
        addresses.sort_unstable_by_key(|&(depth, range, _)| (depth, range.begin));
        let mut chain = Vec::new();
        let mut rest = &addresses[..];
        loop {
            let depth = chain.len();
            let search = rest.binary_search_by(|(call_depth, range, _)| {
                call_depth.cmp(&depth).then_with(|| towards(range.begin, range.end, svma))
            });
            let Ok(at) = search else { break };
            chain.push(rest[at].2);
            rest = &rest[at + 1..];
        }
        let mut calls: Vec<Option<Inlined>> = calls.into_iter().map(Some).collect();
        let chain = chain.into_iter().filter_map(|i| calls[i].take()).collect();
        Ok((name.found, chain))
    }
}

impl Lines {
    /// The location of `svma`: the last row at or before it in its sequence.
    pub(super) fn find(&self, svma: u64) -> Option<FoundFrame> {
        let sequence = self.sequences.binary_search_by(|&(start, end, _)| towards(start, end, svma)).ok()?;
        let rows = &self.sequences[sequence].2;
        let row = match rows.binary_search_by(|row| row.0.cmp(&svma)) {
            Ok(at) => at,
            Err(0) => return None,
            Err(at) => at - 1,
        };
        let (_, file, line, column) = rows[row];
        Some(FoundFrame {
            method: None,
            file: self.files.get(file as usize).cloned(),
            line: (line != 0).then_some(line),
            column: (line != 0).then_some(column),
        })
    }
}

/// The ranges an entry states, read as addr2line reads them.
#[derive(Default)]
struct Ranges {
    low_pc: Option<u64>,
    high_pc: Option<u64>,
    size: Option<u64>,
    list: Option<gimli::RangeListsOffset<usize>>,
}

impl Ranges {
    fn read(&mut self, unit: gimli::UnitRef<'_, Slice>, attr: &gimli::Attribute<Slice>) -> gimli::Result<()> {
        match (attr.name(), attr.value()) {
            (gimli::DW_AT_low_pc, gimli::AttributeValue::Addr(a)) => self.low_pc = Some(a),
            (gimli::DW_AT_low_pc, gimli::AttributeValue::DebugAddrIndex(i)) => self.low_pc = Some(unit.address(i)?),
            (gimli::DW_AT_high_pc, gimli::AttributeValue::Addr(a)) => self.high_pc = Some(a),
            (gimli::DW_AT_high_pc, gimli::AttributeValue::DebugAddrIndex(i)) => self.high_pc = Some(unit.address(i)?),
            (gimli::DW_AT_high_pc, gimli::AttributeValue::Udata(size)) => self.size = Some(size),
            (gimli::DW_AT_ranges, value) => self.list = unit.attr_ranges_offset(value)?,
            _ => {}
        }
        Ok(())
    }

    fn each(&self, unit: gimli::UnitRef<'_, Slice>, mut f: impl FnMut(gimli::Range)) -> gimli::Result<()> {
        let mut add = |range: gimli::Range| {
            if range.begin < range.end {
                f(range);
            }
        };
        if let Some(list) = self.list {
            let mut ranges = unit.ranges(list)?;
            while let Some(range) = ranges.next()? {
                add(range);
            }
        } else if let (Some(begin), Some(end)) = (self.low_pc, self.high_pc) {
            add(gimli::Range { begin, end });
        } else if let (Some(begin), Some(size)) = (self.low_pc, self.size) {
            add(gimli::Range { begin, end: begin.wrapping_add(size) });
        }
        Ok(())
    }
}

/// The name of an entry, read as addr2line reads it: its linkage name, else its name,
/// else its abstract origin's or specification's, followed up to [`NAME_DEPTH`] times.
#[derive(Default)]
struct Name {
    found: Option<Slice>,
}

impl Name {
    fn read(
        &mut self,
        file: &ByUnit,
        unit: gimli::UnitRef<'_, Slice>,
        attr: &gimli::Attribute<Slice>,
    ) -> gimli::Result<()> {
        match attr.name() {
            gimli::DW_AT_linkage_name | gimli::DW_AT_MIPS_linkage_name => {
                if let Ok(name) = unit.attr_string(attr.value()) {
                    self.found = Some(name);
                }
            }
            gimli::DW_AT_name if self.found.is_none() => self.found = unit.attr_string(attr.value()).ok(),
            gimli::DW_AT_abstract_origin | gimli::DW_AT_specification if self.found.is_none() => {
                self.found = file.name_at(unit, attr.value(), NAME_DEPTH);
            }
            _ => {}
        }
        Ok(())
    }
}

impl ByUnit {
    /// The name of the entry `value` refers to, in this unit or another.
    pub(super) fn name_at(
        &self,
        unit: gimli::UnitRef<'_, Slice>,
        value: gimli::AttributeValue<Slice>,
        depth: usize,
    ) -> Option<Slice> {
        if depth == 0 {
            return None;
        }
        match value {
            gimli::AttributeValue::UnitRef(offset) => self.name_in(unit, offset, depth),
            gimli::AttributeValue::DebugInfoRef(offset) => {
                let (other, offset) = self.unit_of(offset.0)?;
                self.name_in(gimli::UnitRef::new(&self.dwarf, &other.unit), offset, depth)
            }
            _ => None,
        }
    }

    fn name_in(&self, unit: gimli::UnitRef<'_, Slice>, offset: Offset, depth: usize) -> Option<Slice> {
        let mut entries = unit.entries_raw(Some(offset)).ok()?;
        let abbrev = entries.read_abbreviation().ok()??;
        let (mut name, mut next) = (None, None);
        for spec in abbrev.attributes() {
            let attr = entries.read_attribute(*spec).ok()?;
            match attr.name() {
                gimli::DW_AT_linkage_name | gimli::DW_AT_MIPS_linkage_name => {
                    if let Ok(found) = unit.attr_string(attr.value()) {
                        return Some(found);
                    }
                }
                gimli::DW_AT_name => name = unit.attr_string(attr.value()).ok().or(name),
                gimli::DW_AT_abstract_origin | gimli::DW_AT_specification => next = Some(attr.value()),
                _ => {}
            }
        }
        name.or_else(|| self.name_at(unit, next?, depth - 1))
    }
}

/// A file of the line table as a path, as addr2line renders it.
fn render_file(
    unit: gimli::UnitRef<'_, Slice>,
    file: &gimli::FileEntry<Slice, usize>,
    header: &gimli::LineProgramHeader<Slice, usize>,
) -> gimli::Result<String> {
    let mut path = unit.comp_dir.map(|dir| String::from_utf8_lossy(dir.slice()).into_owned()).unwrap_or_default();
    if file.directory_index() != 0 {
        if let Some(directory) = file.directory(header) {
            push(&mut path, &String::from_utf8_lossy(unit.attr_string(directory)?.slice()));
        }
    }
    push(&mut path, &String::from_utf8_lossy(unit.attr_string(file.path_name())?.slice()));
    Ok(path)
}

fn push(path: &mut String, part: &str) {
    if part.starts_with('/') {
        *path = part.to_owned();
    } else {
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(part);
    }
}
