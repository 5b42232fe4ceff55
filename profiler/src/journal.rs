//! The append-only journal: measurements survive kill -9, power loss, dropped links and two
//! edgenas processes appending at once.
//!
//! Layout: a header (`EDGENAS\0`, a kind tag of 8 bytes, format version u16 LE), then records
//! `[len: u32 LE][crc32 of payload: u32 LE][postcard payload]`.
//!
//! - **Writers** open with `O_APPEND` and append each record with one `write` call under an
//!   exclusive `flock`, then fsync. Under that lock a writer first indexes what others appended
//!   since it last looked and cuts a torn tail (a record physically incomplete at the end: a
//!   crashed writer's), never anything else.
//! - **Readers** open read-only under a shared lock and never modify the file (a read-only
//!   journal can be read); a torn tail is reported, not cut.
//! - **Damage** in the middle (a complete record whose checksum fails, a garbled length, a
//!   zero-filled block) is skipped by resynchronising on the next valid record, kept on disk
//!   and reported; `repair` rewrites the journal with every valid record and keeps the original.
//! - **Opening reads no record into memory**: it verifies every checksum while streaming the
//!   file and keeps an index (offset, length); records are decoded when asked for.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::ProfilerError;
use edgenas_format::{sync_dir, FileHeader, HEADER_LEN};

const RECORD_HEADER: u64 = 8;
/// The largest record a reader accepts; a writer refuses to write a larger one.
pub const MAX_RECORD: u32 = 64 << 20;

/// What opening found at the end of the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Bytes of a torn last record that a writer cut off.
    pub truncated_bytes: u64,
    /// Bytes of a torn last record that a reader saw and left in place.
    pub torn_tail_bytes: u64,
    /// Where the original of a journal upgraded from an older format was kept.
    pub upgraded: Option<PathBuf>,
}

/// A stretch of the file in the middle of the journal that holds no valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    pub bytes: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: u64,
    len: u32,
}

pub struct Journal<T> {
    path: PathBuf,
    file: File,
    writable: bool,
    index: Vec<Entry>,
    /// End of the last valid record (where the next append lands after a torn tail is cut).
    end: u64,
    damaged: Vec<Damage>,
    pub recovery: Recovery,
    /// How a record's payload decodes: postcard as `T`, or an older format's decoder
    /// ([`Journal::read_with`]).
    decode: Decode<T>,
}

/// A record decoder: an older format's payload into today's record.
pub type Decode<T> = fn(&[u8]) -> postcard::Result<T>;

/// What `repair` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub kept: usize,
    pub dropped_bytes: u64,
    /// Where the original file was kept (None when there was nothing to repair).
    pub original: Option<PathBuf>,
}

/// Holds an flock on a file's descriptor until dropped (the file outlives it: it is the
/// journal's own, or a local of the same scope declared before it).
struct Lock(std::os::unix::io::RawFd);

impl Lock {
    fn new(file: &File, exclusive: bool, path: &Path) -> Result<Lock, ProfilerError> {
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            // SAFETY: flock on a file descriptor we own, for as long as `file` lives.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(Lock(file.as_raw_fd()));
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // No locks on this file system (some network mounts): go on unlocked.
                Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) => return Ok(Lock(-1)),
                _ => return Err(io_err(path, e)),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: the descriptor is still open (see the type's comment).
            unsafe { libc::flock(self.0, libc::LOCK_UN) };
        }
    }
}

fn io_err(path: &Path, source: std::io::Error) -> ProfilerError {
    ProfilerError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (or creates) the journal at `path` for appending, validating its header and every
    /// record; a torn tail is cut under the exclusive lock.
    pub fn open(path: &Path, header: FileHeader) -> Result<Journal<T>, ProfilerError> {
        let io = |e| io_err(path, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut journal = Journal::empty(path, file, true);
        {
            let _lock = Lock::new(&journal.file, true, path)?;
            let len = journal.file.metadata().map_err(io)?.len();
            if len == 0 {
                journal.file.write_all(&header.encode()).map_err(io)?;
                journal.file.sync_all().map_err(io)?;
                // Best effort, as before: the header itself is already synced.
                let _ = sync_dir(path);
                journal.end = HEADER_LEN as u64;
                return Ok(journal);
            }
            journal.check_header(header, len)?;
            journal.scan_to_end(len)?;
        }
        Ok(journal)
    }

    /// Opens the journal read-only: never modifies it, whatever it finds.
    pub fn read(path: &Path, header: FileHeader) -> Result<Journal<T>, ProfilerError> {
        let io = |e| io_err(path, e);
        let file = File::open(path).map_err(io)?;
        let mut journal = Journal::empty(path, file, false);
        {
            let _lock = Lock::new(&journal.file, false, path)?;
            let len = journal.file.metadata().map_err(io)?.len();
            if len == 0 {
                // Created by a writer that has not written its header yet.
                journal.end = 0;
                return Ok(journal);
            }
            journal.check_header(header, len)?;
            journal.scan_to_end(len)?;
        }
        Ok(journal)
    }

    /// Opens a journal of an older format read-only, decoding each record with `decode`.
    pub fn read_with(
        path: &Path,
        header: FileHeader,
        decode: Decode<T>,
    ) -> Result<Journal<T>, ProfilerError> {
        let mut journal = Journal::read(path, header)?;
        journal.decode = decode;
        Ok(journal)
    }

    fn empty(path: &Path, file: File, writable: bool) -> Journal<T> {
        Journal {
            path: path.to_owned(),
            file,
            writable,
            index: Vec::new(),
            end: HEADER_LEN as u64,
            damaged: Vec::new(),
            recovery: Recovery::default(),
            decode: |bytes| postcard::from_bytes(bytes),
        }
    }

    fn check_header(&self, header: FileHeader, len: u64) -> Result<(), ProfilerError> {
        let mut head = vec![0u8; HEADER_LEN.min(len as usize)];
        self.file
            .read_exact_at(&mut head, 0)
            .map_err(|e| io_err(&self.path, e))?;
        header.check(&head, &self.path)?;
        Ok(())
    }

    /// Indexes the records from `self.end` to `len`; a writer cuts a torn tail, a reader notes it.
    fn scan_to_end(&mut self, len: u64) -> Result<(), ProfilerError> {
        let found = scan(&self.file, self.end, len).map_err(|e| io_err(&self.path, e))?;
        self.index.extend(found.entries);
        self.damaged.extend(found.damaged);
        self.end = found.end;
        if found.tail > 0 {
            if self.writable {
                self.file
                    .set_len(self.end)
                    .map_err(|e| io_err(&self.path, e))?;
                self.file.sync_all().map_err(|e| io_err(&self.path, e))?;
                self.recovery.truncated_bytes += found.tail;
            } else {
                self.recovery.torn_tail_bytes = found.tail;
            }
        }
        Ok(())
    }

    /// Appends one record and makes it durable before returning.
    pub fn append(&mut self, record: T) -> Result<(), ProfilerError> {
        if !self.writable {
            return Err(io_err(
                &self.path,
                std::io::Error::new(std::io::ErrorKind::PermissionDenied, "opened read-only"),
            ));
        }
        let buf = frame(&record)?;
        let _lock = Lock::new(&self.file, true, &self.path)?;
        // Others may have appended since we looked (or crashed mid-record): index and tidy first.
        let len = self
            .file
            .metadata()
            .map_err(|e| io_err(&self.path, e))?
            .len();
        if len != self.end {
            self.scan_to_end(len)?;
        }
        let io = |e| io_err(&self.path, e);
        let offset = self.end;
        match (&self.file).write(&buf) {
            Ok(n) if n == buf.len() => {}
            Ok(n) => {
                let _ = self.file.set_len(offset);
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    format!("only {n} of {} bytes written (disk full?)", buf.len()),
                )));
            }
            Err(e) => {
                let _ = self.file.set_len(offset);
                return Err(io(e));
            }
        }
        self.file.sync_data().map_err(io)?;
        self.index.push(Entry {
            offset,
            len: (buf.len() as u64 - RECORD_HEADER) as u32,
        });
        self.end = offset + buf.len() as u64;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Record `i`, decoded now.
    pub fn get(&self, i: usize) -> Result<T, ProfilerError> {
        let e = self.index[i];
        let mut payload = vec![0u8; e.len as usize];
        self.file
            .read_exact_at(&mut payload, e.offset + RECORD_HEADER)
            .map_err(|err| io_err(&self.path, err))?;
        (self.decode)(&payload).map_err(|err| ProfilerError::Corrupt {
            path: self.path.display().to_string(),
            offset: e.offset,
            reason: format!("record does not decode ({err})"),
        })
    }

    /// Every record in order, decoded one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Result<T, ProfilerError>> + '_ {
        (0..self.index.len()).map(|i| self.get(i))
    }

    /// Every record, decoded (for callers that need them all at once).
    pub fn records(&self) -> Result<Vec<T>, ProfilerError> {
        self.iter().collect()
    }

    /// Stretches in the middle that hold no valid record (skipped, kept on disk).
    pub fn damaged(&self) -> &[Damage] {
        &self.damaged
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One record as the journal stores it: length, checksum, payload. A record the reader would
/// refuse (empty, or over [`MAX_RECORD`]) is an error, never written.
pub fn frame<T: Serialize>(record: &T) -> Result<Vec<u8>, ProfilerError> {
    let payload = postcard::to_stdvec(record).map_err(|e| ProfilerError::Encode(e.to_string()))?;
    if payload.is_empty() || payload.len() > MAX_RECORD as usize {
        return Err(ProfilerError::Encode(format!(
            "a record of {} bytes is outside what the journal stores (1 B to {} MiB)",
            payload.len(),
            MAX_RECORD >> 20
        )));
    }
    let mut buf = Vec::with_capacity(RECORD_HEADER as usize + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(buf)
}

/// Rewrites the journal with every valid record, before and after any damage, and keeps the
/// original beside it (`<name>.damaged-<unix time>`). A torn tail is dropped too.
pub fn repair(path: &Path, header: FileHeader) -> Result<Repaired, ProfilerError> {
    let io = |e| io_err(path, e);
    let x = Exclusive::open(path, header)?;
    let found = &x.found;
    let dropped: u64 = found.damaged.iter().map(|d| d.bytes).sum::<u64>() + found.tail;
    if dropped == 0 {
        return Ok(Repaired {
            kept: found.entries.len(),
            dropped_bytes: 0,
            original: None,
        });
    }
    let fresh = path.with_extension("repairing");
    {
        let mut out = File::create(&fresh).map_err(io)?;
        out.write_all(&header.encode()).map_err(io)?;
        for e in &found.entries {
            let mut rec = vec![0u8; RECORD_HEADER as usize + e.len as usize];
            x.file.read_exact_at(&mut rec, e.offset).map_err(io)?;
            out.write_all(&rec).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
    }
    let original = replace_keeping_original(path, &fresh, "damaged")?;
    Ok(Repaired {
        kept: found.entries.len(),
        dropped_bytes: dropped,
        original: Some(original),
    })
}

/// A journal file scanned under the exclusive lock, held until this is dropped: nothing lands
/// in it between the scan and a rewrite.
struct Exclusive {
    // Declared first, so dropped (unlocked) before the file closes.
    _lock: Lock,
    file: File,
    found: Scan,
}

impl Exclusive {
    fn open(path: &Path, header: FileHeader) -> Result<Exclusive, ProfilerError> {
        let io = |e| io_err(path, e);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let lock = Lock::new(&file, true, path)?;
        let len = file.metadata().map_err(io)?.len();
        let mut head = vec![0u8; HEADER_LEN.min(len as usize)];
        file.read_exact_at(&mut head, 0).map_err(io)?;
        header.check(&head, path)?;
        let found = scan(&file, HEADER_LEN as u64, len).map_err(io)?;
        Ok(Exclusive {
            _lock: lock,
            file,
            found,
        })
    }
}

/// Renames `fresh` over `path` and keeps the original as `<name>.<tag>-<unix time>`; returns
/// where. The original stays reachable under its new name; the journal's name is never missing.
fn replace_keeping_original(
    path: &Path,
    fresh: &Path,
    tag: &str,
) -> Result<PathBuf, ProfilerError> {
    let io = |e| io_err(path, e);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "journal".into());
    let original = path.with_file_name(format!("{name}.{tag}-{stamp}"));
    std::fs::hard_link(path, &original).map_err(io)?;
    std::fs::rename(fresh, path).map_err(io)?;
    let _ = sync_dir(path);
    Ok(original)
}

/// The format version in the header of the file at `path`, when it is an edgenas file of
/// `kind`; None when it is missing, shorter than a header or something else (opening it then
/// says what is wrong).
pub fn version_of(path: &Path, kind: edgenas_format::Kind) -> Option<u16> {
    let file = File::open(path).ok()?;
    let mut head = [0u8; HEADER_LEN];
    file.read_exact_at(&mut head, 0).ok()?;
    let found = u16::from_le_bytes([head[16], head[17]]);
    FileHeader::new(kind, found).check(&head, path).ok()?;
    Some(found)
}

/// Rewrites a journal of an older format (`old`, read with `decode`) in today's (`new`), every
/// valid record converted, and keeps the original beside it (`<name>.format<N>-<unix time>`).
/// A record that does not decode stops the upgrade and leaves the journal as it was. Returns
/// where the original was kept.
pub fn upgrade<T: Serialize + DeserializeOwned>(
    path: &Path,
    old: FileHeader,
    new: FileHeader,
    decode: Decode<T>,
) -> Result<PathBuf, ProfilerError> {
    let io = |e| io_err(path, e);
    // Under the exclusive lock from the read to the rename: nothing lands in the old file
    // after it was read.
    let x = Exclusive::open(path, old)?;
    let mut records = Vec::with_capacity(x.found.entries.len());
    for e in &x.found.entries {
        let mut payload = vec![0u8; e.len as usize];
        x.file
            .read_exact_at(&mut payload, e.offset + RECORD_HEADER)
            .map_err(io)?;
        records.push(decode(&payload).map_err(|err| ProfilerError::Corrupt {
            path: path.display().to_string(),
            offset: e.offset,
            reason: format!("record does not decode as format {} ({err})", old.version),
        })?);
    }
    let fresh = path.with_extension("upgrading");
    {
        let mut out = File::create(&fresh).map_err(io)?;
        out.write_all(&new.encode()).map_err(io)?;
        for r in &records {
            out.write_all(&frame(r)?).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
    }
    replace_keeping_original(path, &fresh, &format!("format{}", old.version))
}

struct Scan {
    entries: Vec<Entry>,
    damaged: Vec<Damage>,
    end: u64,
    tail: u64,
}

/// Streams the records from `from` to `len` through a small buffer, verifying each checksum.
fn scan(file: &File, from: u64, len: u64) -> std::io::Result<Scan> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    reader.seek(SeekFrom::Start(from))?;
    let mut out = Scan {
        entries: Vec::new(),
        damaged: Vec::new(),
        end: from,
        tail: 0,
    };
    let mut pos = from;
    let mut payload = Vec::new();
    while pos < len {
        let rest = len - pos;
        let mut head = [0u8; RECORD_HEADER as usize];
        if rest < RECORD_HEADER {
            out.tail = rest;
            break;
        }
        reader.read_exact(&mut head)?;
        let n = u32::from_le_bytes(head[0..4].try_into().unwrap());
        let crc = u32::from_le_bytes(head[4..8].try_into().unwrap());
        // Zero-length records are never written: a zero-filled header (what a power cut
        // leaves) is no record.
        let complete = n > 0 && n <= MAX_RECORD && RECORD_HEADER + n as u64 <= rest;
        if complete {
            payload.resize(n as usize, 0);
            reader.read_exact(&mut payload)?;
            if crc32fast::hash(&payload) == crc {
                out.entries.push(Entry {
                    offset: pos,
                    len: n,
                });
                pos += RECORD_HEADER + n as u64;
                out.end = pos;
                continue;
            }
        }
        // No valid record here: damage if a valid record follows, else a torn tail.
        match next_valid(file, pos + 1, len)? {
            Some(next) => {
                let reason = if complete {
                    "checksum mismatch".to_string()
                } else if n == 0 {
                    "zero-filled".to_string()
                } else {
                    format!("record length {n} does not fit")
                };
                // A complete record with a bad checksum ends where its length says, when the
                // next valid record starts there; otherwise the damage runs to the next one.
                out.damaged.push(Damage {
                    offset: pos,
                    bytes: next - pos,
                    reason,
                });
                pos = next;
                out.end = pos;
                reader.seek(SeekFrom::Start(pos))?;
            }
            None if complete => {
                // The last record is whole but its checksum fails: damaged, not torn.
                out.damaged.push(Damage {
                    offset: pos,
                    bytes: rest,
                    reason: "checksum mismatch".into(),
                });
                // Appends go after it; it stays on disk for `repair` to judge.
                out.end = len;
                break;
            }
            None => {
                out.tail = rest;
                break;
            }
        }
    }
    Ok(out)
}

/// The first offset at or after `start` where a valid record begins and runs to a valid
/// record or the end of the file (so that a record-shaped accident in the payload of a damaged
/// record is not taken for one).
fn next_valid(file: &File, start: u64, len: u64) -> std::io::Result<Option<u64>> {
    if start >= len {
        return Ok(None);
    }
    let mut rest = vec![0u8; (len - start) as usize];
    file.read_exact_at(&mut rest, start)?;
    let valid_at = |i: usize| -> Option<usize> {
        let head = rest.get(i..i + RECORD_HEADER as usize)?;
        let n = u32::from_le_bytes(head[0..4].try_into().unwrap()) as usize;
        if n == 0 || n > MAX_RECORD as usize {
            return None;
        }
        let crc = u32::from_le_bytes(head[4..8].try_into().unwrap());
        let body = rest.get(i + 8..i + 8 + n)?;
        (crc32fast::hash(body) == crc).then_some(i + 8 + n)
    };
    for i in 0..rest.len() {
        if let Some(after) = valid_at(i) {
            if after == rest.len() || valid_at(after).is_some() {
                return Ok(Some(start + i as u64));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgenas_format::Kind;

    fn header() -> FileHeader {
        FileHeader::new(Kind::TestJournal, 1)
    }

    /// A test's folder, removed when the test ends, pass or fail.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fresh folder for the test `name` and the journal's path in it.
    fn tmp(name: &str) -> (Scratch, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("edgenas-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("j.bin");
        (Scratch(dir), p)
    }

    type J = Journal<(u32, String)>;

    fn write_five(p: &Path) -> Vec<u64> {
        let mut j: J = Journal::open(p, header()).unwrap();
        let mut offsets = vec![];
        for i in 0..5 {
            offsets.push(std::fs::metadata(p).unwrap().len());
            j.append((i, format!("record {i}"))).unwrap();
        }
        offsets
    }

    fn ids(j: &J) -> Vec<u32> {
        j.records().unwrap().iter().map(|r| r.0).collect()
    }

    #[test]
    fn a_torn_tail_is_cut_by_a_writer_and_left_alone_by_a_reader() {
        let (_dir, p) = tmp("torn");
        let offsets = write_five(&p);
        let full = std::fs::metadata(&p).unwrap().len();
        let bytes = std::fs::read(&p).unwrap();
        // Cut the file at every byte inside the last record: the first four always survive.
        for cut in (offsets[4] + 1)..full {
            std::fs::write(&p, &bytes[..cut as usize]).unwrap();
            let r: J = Journal::read(&p, header()).unwrap();
            assert_eq!(ids(&r), [0, 1, 2, 3], "cut at {cut}");
            assert_eq!(r.recovery.torn_tail_bytes, cut - offsets[4]);
            assert_eq!(std::fs::metadata(&p).unwrap().len(), cut, "a reader cut");
            let j: J = Journal::open(&p, header()).unwrap();
            assert_eq!(ids(&j), [0, 1, 2, 3]);
            assert_eq!(j.recovery.truncated_bytes, cut - offsets[4]);
            assert_eq!(std::fs::metadata(&p).unwrap().len(), offsets[4]);
        }
        let mut j: J = Journal::open(&p, header()).unwrap();
        j.append((9, "again".into())).unwrap();
        let j: J = Journal::open(&p, header()).unwrap();
        assert_eq!(ids(&j), [0, 1, 2, 3, 9]);
        assert_eq!(j.recovery, Recovery::default());
    }

    #[test]
    fn a_zero_filled_tail_is_torn_not_a_record() {
        let (_dir, p) = tmp("zero");
        write_five(&p);
        let len = std::fs::metadata(&p).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[0u8; 4096]).unwrap();
        let r: J = Journal::read(&p, header()).unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r.recovery.torn_tail_bytes, 4096);
        let mut j: J = Journal::open(&p, header()).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
        j.append((5, "after".into())).unwrap();
        assert_eq!(
            ids(&Journal::read(&p, header()).unwrap()),
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn damage_in_the_middle_is_skipped_reported_and_kept_never_cut() {
        let (_dir, p) = tmp("mid");
        let offsets = write_five(&p);
        let clean = std::fs::read(&p).unwrap();
        type Damager<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
        let cases: Vec<(&str, Damager, Vec<u32>)> = vec![
            // Two flipped bytes in the last complete record: damaged, not torn.
            (
                "last record's payload",
                Box::new(|b: &mut Vec<u8>| {
                    let at = offsets[4] as usize + 10;
                    b[at] ^= 0x55;
                    b[at + 1] ^= 0x55;
                }),
                vec![0, 1, 2, 3],
            ),
            // A garbled length field in record 2: records 3 and 4 are still read.
            (
                "record 2's length",
                Box::new(|b: &mut Vec<u8>| b[offsets[2] as usize + 2] = 0x7f),
                vec![0, 1, 3, 4],
            ),
            (
                "record 1's payload",
                Box::new(|b: &mut Vec<u8>| b[offsets[1] as usize + 9] ^= 1),
                vec![0, 2, 3, 4],
            ),
            (
                "zeros over record 3",
                Box::new(|b: &mut Vec<u8>| {
                    for x in &mut b[offsets[3] as usize..offsets[4] as usize] {
                        *x = 0
                    }
                }),
                vec![0, 1, 2, 4],
            ),
        ];
        for (what, damage, expect) in cases {
            let mut bytes = clean.clone();
            damage(&mut bytes);
            std::fs::write(&p, &bytes).unwrap();
            let r: J = Journal::read(&p, header()).unwrap();
            assert_eq!(ids(&r), expect, "{what}");
            assert_eq!(r.damaged().len(), 1, "{what}");
            // A writer keeps the damage too and appends after it.
            let mut j: J = Journal::open(&p, header()).unwrap();
            assert_eq!(
                std::fs::read(&p).unwrap(),
                bytes,
                "{what}: the file was modified"
            );
            j.append((7, "new".into())).unwrap();
            let mut with_new = expect.clone();
            with_new.push(7);
            assert_eq!(
                ids(&Journal::read(&p, header()).unwrap()),
                with_new,
                "{what}"
            );
            // Repair keeps every valid record and the original beside.
            let rep = repair(&p, header()).unwrap();
            assert_eq!(rep.kept, with_new.len(), "{what}");
            let original = rep.original.unwrap();
            assert!(std::fs::read(&original).unwrap().starts_with(&bytes));
            let r: J = Journal::read(&p, header()).unwrap();
            assert_eq!(ids(&r), with_new, "{what}");
            assert!(r.damaged().is_empty());
            assert!(
                repair(&p, header()).unwrap().original.is_none(),
                "nothing left to repair"
            );
            std::fs::remove_file(original).unwrap();
        }
    }

    #[test]
    fn a_read_only_journal_can_be_read() {
        let (_dir, p) = tmp("ro");
        write_five(&p);
        let mut perm = std::fs::metadata(&p).unwrap().permissions();
        perm.set_readonly(true);
        std::fs::set_permissions(&p, perm).unwrap();
        let r: J = Journal::read(&p, header()).unwrap();
        assert_eq!(ids(&r), [0, 1, 2, 3, 4]);
        let mut r = r;
        assert!(r.append((5, "no".into())).is_err());
    }

    #[test]
    fn a_file_of_another_kind_or_version_is_refused() {
        let (_dir, p) = tmp("kind");
        Journal::<u64>::open(&p, header()).unwrap();
        let err = Journal::<u64>::open(&p, FileHeader::new(Kind::Measurements, 1))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("test-journal"), "{err}");
        let err = Journal::<u64>::read(&p, FileHeader::new(Kind::TestJournal, 2))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("version 1"), "{err}");
        std::fs::write(&p, b"not a journal at all").unwrap();
        let err = Journal::<u64>::open(&p, header())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not an edgenas file"), "{err}");
    }

    #[test]
    fn a_record_the_reader_would_refuse_is_never_written() {
        let (_dir, p) = tmp("big");
        let mut j: Journal<Vec<u8>> = Journal::open(&p, header()).unwrap();
        let err = j.append(vec![7u8; MAX_RECORD as usize + 1]).unwrap_err();
        assert!(
            err.to_string().contains("outside what the journal stores"),
            "{err}"
        );
        j.append(vec![1, 2, 3]).unwrap();
        assert_eq!(
            Journal::<Vec<u8>>::read(&p, header())
                .unwrap()
                .records()
                .unwrap(),
            [vec![1, 2, 3]]
        );
    }

    /// The child side of the concurrency test: appends `EDGENAS_JOURNAL_N` records tagged
    /// `EDGENAS_JOURNAL_TAG` to `EDGENAS_JOURNAL_PATH`, reopening now and then.
    #[test]
    #[ignore = "run as a child process by two_processes_appending_at_once_lose_nothing"]
    fn append_child() {
        let path = PathBuf::from(std::env::var("EDGENAS_JOURNAL_PATH").unwrap());
        let tag: u32 = std::env::var("EDGENAS_JOURNAL_TAG")
            .unwrap()
            .parse()
            .unwrap();
        let n: u32 = std::env::var("EDGENAS_JOURNAL_N").unwrap().parse().unwrap();
        let mut j: J = Journal::open(&path, header()).unwrap();
        for i in 0..n {
            j.append((tag * 1_000_000 + i, "x".repeat((i % 200) as usize)))
                .unwrap();
            if i % 250 == 0 {
                j = Journal::open(&path, header()).unwrap();
            }
        }
    }

    #[test]
    fn two_processes_appending_at_once_lose_nothing_and_a_reader_meanwhile_sees_no_damage() {
        let (_dir, p) = tmp("concurrent");
        Journal::<(u32, String)>::open(&p, header()).unwrap();
        let exe = std::env::current_exe().unwrap();
        let n = 1000u32;
        let children: Vec<_> = (1..=2)
            .map(|tag| {
                std::process::Command::new(&exe)
                    .args([
                        "--ignored",
                        "--exact",
                        "journal::tests::append_child",
                        "--quiet",
                    ])
                    .env("EDGENAS_JOURNAL_PATH", &p)
                    .env("EDGENAS_JOURNAL_TAG", tag.to_string())
                    .env("EDGENAS_JOURNAL_N", n.to_string())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // `journal show` meanwhile: every read is whole, never damaged, never shrinking.
        let mut last = 0;
        let mut reads = 0;
        while last < 2 * n as usize {
            let r: J = Journal::read(&p, header()).unwrap();
            assert!(r.damaged().is_empty());
            assert_eq!(
                r.recovery.torn_tail_bytes, 0,
                "a reader saw a half-written record"
            );
            assert!(r.len() >= last);
            last = r.len();
            reads += 1;
            if reads > 100_000 {
                break;
            }
        }
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let r: J = Journal::read(&p, header()).unwrap();
        let ids = ids(&r);
        assert_eq!(ids.len(), 2 * n as usize);
        for tag in 1..=2u32 {
            let mine: Vec<u32> = ids
                .iter()
                .filter(|i| *i / 1_000_000 == tag)
                .map(|i| i % 1_000_000)
                .collect();
            assert_eq!(
                mine,
                (0..n).collect::<Vec<_>>(),
                "process {tag}'s records in order"
            );
        }
        assert!(reads > 1);
    }
}
