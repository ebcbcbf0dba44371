//! The crash record: one text file per crash, a line per fact. The head (app, device,
//! loaded modules) is written when the handlers are installed, the rest by the signal
//! handler through [`SignalWriter`], which allocates nothing; the next start reads it
//! back with [`Record::parse`].
//!
//! ```text
//! bugsnag-crash 1
//! app {"version":"2.5.1","releaseStage":"production"}
//! device {"hostname":"web-1","osName":"linux"}
//! module 55d1c0a00000 55d1c0b00000 55d1c0a00000 3f2e…9a "/srv/app/bin/api"
//! signal 11
//! code 1
//! address 10
//! sp 7ffd5a3c1e80
//! time 1764540000123
//! thread "main"
//! context "GET /orders/{id}"
//! user "203.0.113.5"
//! session "6c1f…" 1764539990000 2 0
//! ip 55d1c0a4f2c1
//! end
//! ```

use serde_json::Value;

use crate::capture::CrashScope;
use crate::stacktrace::LoadedModule;

/// The first line of every record, with the format's version.
const MAGIC: &str = "bugsnag-crash 1";

/// The lines written before any crash: what does not change while the process runs.
pub(crate) fn head(app: &Value, device: &Value, key: &str, modules: &[LoadedModule]) -> Vec<u8> {
    let mut head = format!("{MAGIC}\napp {app}\ndevice {device}\nkey {key}\n");
    for m in modules {
        let path = Value::String(m.path.to_string_lossy().into_owned());
        let id = m.build_id.as_deref().unwrap_or("-");
        head.push_str(&format!("module {:x} {:x} {:x} {id} {path}\n", m.start, m.end, m.bias));
    }
    head.into_bytes()
}

/// Writes a record from a signal handler: numbers and escaped strings go through a
/// buffer on the stack to `sink` (`write(2)`); nothing is allocated.
pub(crate) struct SignalWriter<F: FnMut(&[u8])> {
    buffer: [u8; 256],
    len: usize,
    sink: F,
}

impl<F: FnMut(&[u8])> SignalWriter<F> {
    pub(crate) fn new(sink: F) -> Self {
        Self { buffer: [0; 256], len: 0, sink }
    }

    /// Writes what is buffered to the sink.
    pub(crate) fn flush(&mut self) {
        if self.len > 0 {
            (self.sink)(&self.buffer[..self.len]);
            self.len = 0;
        }
    }

    fn byte(&mut self, b: u8) {
        if self.len == self.buffer.len() {
            self.flush();
        }
        self.buffer[self.len] = b;
        self.len += 1;
    }

    /// Writes bytes as they are.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        if bytes.len() > self.buffer.len() {
            self.flush();
            (self.sink)(bytes);
        } else {
            bytes.iter().for_each(|b| self.byte(*b));
        }
    }

    fn number(&mut self, mut n: u64, radix: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n % radix) as usize];
            n /= radix;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..]);
    }

    /// A JSON string: quoted, with quotes, backslashes and control characters escaped.
    fn string(&mut self, text: &[u8]) {
        self.byte(b'"');
        for &b in text {
            match b {
                b'"' | b'\\' => {
                    self.byte(b'\\');
                    self.byte(b);
                }
                0..=0x1f => {
                    self.bytes(b"\\u00");
                    self.byte(b"0123456789abcdef"[(b >> 4) as usize]);
                    self.byte(b"0123456789abcdef"[(b & 0xf) as usize]);
                }
                _ => self.byte(b),
            }
        }
        self.byte(b'"');
    }

    fn line(&mut self, key: &[u8], value: impl FnOnce(&mut Self)) {
        self.bytes(key);
        self.byte(b' ');
        value(self);
        self.byte(b'\n');
    }

    /// A record file's name, `crash-<pid>-<ms>-<n>.record`, NUL-terminated for `open(2)`:
    /// the pid read at the crash (a forked child's own), so no two records share one.
    pub(crate) fn file_name(&mut self, pid: u32, time_ms: u64, n: u32) {
        self.bytes(b"crash-");
        self.number(u64::from(pid), 10);
        self.byte(b'-');
        self.number(time_ms, 10);
        self.byte(b'-');
        self.number(u64::from(n), 10);
        self.bytes(b".record\0");
        self.flush();
    }

    /// The signal and where it stopped the thread.
    pub(crate) fn crash(&mut self, signal: i32, code: i32, address: usize, sp: usize, time_ms: u64) {
        self.line(b"signal", |w| w.number(signal as u64, 10));
        // A negative code (sent by `raise`, `kill`...) as its two's complement is kept.
        self.line(b"code", |w| w.number(i64::from(code) as u64, 10));
        self.line(b"address", |w| w.number(address as u64, 16));
        self.line(b"sp", |w| w.number(sp as u64, 16));
        self.line(b"time", |w| w.number(time_ms, 10));
    }

    /// The crashing thread's name, read into a buffer of this writer's stack.
    pub(crate) fn thread_name(&mut self, read: impl FnOnce(&mut [u8]) -> usize) {
        let mut name = [0u8; 64];
        let len = read(&mut name).min(name.len());
        if len > 0 {
            self.line(b"thread", |w| w.string(&name[..len]));
        }
    }

    /// What the crashing thread's scope held.
    pub(crate) fn scope(&mut self, scope: CrashScope<'_>) {
        if let Some(context) = scope.context {
            self.line(b"context", |w| w.string(context.as_bytes()));
        }
        if let Some(user) = scope.user {
            self.line(b"user", |w| w.string(user.as_bytes()));
        }
        if let Some((id, started, handled, unhandled)) = scope.session {
            self.line(b"session", |w| {
                w.string(id.as_bytes());
                for n in [started, handled, unhandled] {
                    w.byte(b' ');
                    w.number(n, 10);
                }
            });
        }
    }

    /// The stack's addresses, innermost first.
    pub(crate) fn ips(&mut self, ips: &[usize]) {
        for ip in ips {
            self.line(b"ip", |w| w.number(*ip as u64, 16));
        }
    }

    /// Ends the record (a record without this line was cut short) and writes it out.
    pub(crate) fn end(&mut self) {
        self.bytes(b"end\n");
        self.flush();
    }
}

/// A crash record read back.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) app: Value,
    pub(crate) device: Value,
    pub(crate) modules: Vec<LoadedModule>,
    /// The digest of the API key of the configuration that recorded it (`storage`).
    pub(crate) key: Option<String>,
    pub(crate) signal: i32,
    pub(crate) code: i32,
    pub(crate) address: u64,
    pub(crate) sp: u64,
    pub(crate) time_ms: Option<u64>,
    pub(crate) thread: Option<String>,
    pub(crate) context: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) session: Option<(String, u64, u64, u64)>,
    pub(crate) ips: Vec<u64>,
    /// Whether the handler finished writing it.
    pub(crate) complete: bool,
}

impl Record {
    /// Reads a record; `None` when it is not one (or not even its signal was written).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut record = Record::default();
        let mut signal = None;
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let json = || serde_json::from_str::<Value>(value).ok();
            let text = || json().and_then(|v| v.as_str().map(str::to_owned));
            let hex = |v: &str| u64::from_str_radix(v, 16).ok();
            match key {
                "app" => record.app = json().unwrap_or_default(),
                "device" => record.device = json().unwrap_or_default(),
                "key" => record.key = Some(value.to_owned()),
                "module" => record.modules.extend(module(value)),
                "signal" => signal = value.parse().ok(),
                "code" => record.code = value.parse::<u64>().map_or(0, |c| c as i64 as i32),
                "address" => record.address = hex(value).unwrap_or(0),
                "sp" => record.sp = hex(value).unwrap_or(0),
                "time" => record.time_ms = value.parse().ok(),
                "thread" => record.thread = text(),
                "context" => record.context = text(),
                "user" => record.user = text(),
                "session" => record.session = session(value),
                "ip" => record.ips.extend(hex(value)),
                "end" => record.complete = true,
                _ => {}
            }
        }
        record.signal = signal?;
        Some(record)
    }

    /// Whether the fault was at the edge of the thread's stack: a stack overflow.
    pub(crate) fn is_stack_overflow(&self) -> bool {
        matches!(self.signal, libc::SIGSEGV | libc::SIGBUS)
            && self.address != 0
            && self.address <= self.sp.saturating_add(4096)
            && self.sp.saturating_sub(self.address) < 1024 * 1024
    }
}

fn module(value: &str) -> Option<LoadedModule> {
    let mut parts = value.splitn(5, ' ');
    let hex = |p: Option<&str>| p.and_then(|v| u64::from_str_radix(v, 16).ok());
    let (start, end, bias) = (hex(parts.next())?, hex(parts.next())?, hex(parts.next())?);
    let build_id = parts.next().filter(|id| *id != "-").map(str::to_owned);
    let path = serde_json::from_str::<String>(parts.next()?).ok()?;
    Some(LoadedModule { start, end, bias, path: path.into(), build_id, image: None })
}

fn session(value: &str) -> Option<(String, u64, u64, u64)> {
    // `"id" started handled unhandled`: the id is a JSON string without spaces.
    let (id, numbers) = value.rsplit_once('"').map(|(id, rest)| (format!("{id}\""), rest))?;
    let id: String = serde_json::from_str(&id).ok()?;
    let mut numbers = numbers.split_whitespace().filter_map(|n| n.parse::<u64>().ok());
    Some((id, numbers.next()?, numbers.next()?, numbers.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_handler_writes_reads_back() {
        let modules = [LoadedModule {
            start: 0x1000,
            end: 0x2000,
            bias: 0x1000,
            path: "/srv/app \"bin\"".into(),
            build_id: Some("abcd".into()),
            image: None,
        }];
        let mut text =
            head(&serde_json::json!({"version": "1.0"}), &serde_json::json!({"osName": "linux"}), "0123abcd", &modules);
        let mut written = Vec::new();
        let mut writer = SignalWriter::new(|bytes: &[u8]| written.extend_from_slice(bytes));
        writer.crash(11, -6, 0x10, 0x7ffd_0000, 1_764_540_000_123);
        writer.thread_name(|buffer| {
            buffer[..4].copy_from_slice(b"ma\"n");
            4
        });
        writer.scope(CrashScope {
            context: Some("GET /orders/{id}\nx"),
            user: Some("u-7"),
            session: Some(("s-1", 17, 2, 0)),
        });
        writer.ips(&[0x1234, 0xabcdef]);
        writer.end();
        text.extend_from_slice(&written);
        let record = Record::parse(std::str::from_utf8(&text).unwrap()).unwrap();
        assert!(record.complete);
        assert_eq!((record.signal, record.code, record.address, record.sp), (11, -6, 0x10, 0x7ffd_0000));
        assert_eq!(record.time_ms, Some(1_764_540_000_123));
        assert_eq!(record.thread.as_deref(), Some("ma\"n"));
        assert_eq!(record.context.as_deref(), Some("GET /orders/{id}\nx"));
        assert_eq!(record.user.as_deref(), Some("u-7"));
        assert_eq!(record.session, Some(("s-1".into(), 17, 2, 0)));
        assert_eq!(record.ips, [0x1234, 0xabcdef]);
        assert_eq!(record.modules, modules);
        assert_eq!(record.app["version"], "1.0");
        assert!(!record.is_stack_overflow(), "0x10 is nowhere near the stack");
        assert!(Record::parse("bugsnag-crash 1\napp {}\n").is_none(), "cut before the signal");
    }
}
