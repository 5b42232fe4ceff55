//! The append-only journal: measurements survive kill -9, power loss and dropped links.
//!
//! Layout: a header (`EDGENAS\0`, a kind tag of 8 bytes, format version u16 LE), then records
//! `[len: u32 LE][crc32 of payload: u32 LE][postcard payload]`, each flushed and fsynced.
//! On open, a torn last record (short header, short payload, or a CRC mismatch at the end)
//! is cut off and reported; a bad record followed by more data is corruption and refused.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::ProfilerError;
use edgenas_format::{FileHeader, HEADER_LEN};

const RECORD_HEADER: usize = 8;
/// A record larger than this is not one we wrote: the length field is garbage.
const MAX_RECORD: u32 = 64 << 20;

/// What opening found at the end of the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Bytes of a torn last record that were cut off.
    pub truncated_bytes: u64,
}

pub struct Journal<T> {
    path: PathBuf,
    file: File,
    records: Vec<T>,
    pub recovery: Recovery,
    _t: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (or creates) the journal at `path`, validating its header and every record.
    pub fn open(path: &Path, header: FileHeader) -> Result<Journal<T>, ProfilerError> {
        let io = |source| ProfilerError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.is_empty() {
            file.write_all(&header.encode()).map_err(io)?;
            file.sync_all().map_err(io)?;
            sync_dir(path);
            return Ok(Journal {
                path: path.to_owned(),
                file,
                records: Vec::new(),
                recovery: Recovery::default(),
                _t: PhantomData,
            });
        }
        header.check(&bytes, path)?;
        let mut records = Vec::new();
        let mut pos = HEADER_LEN;
        let mut recovery = Recovery::default();
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let torn = |why: &str| ProfilerError::Corrupt {
                path: path.display().to_string(),
                offset: pos as u64,
                reason: why.to_string(),
            };
            if rest.len() < RECORD_HEADER {
                recovery.truncated_bytes = rest.len() as u64;
                break;
            }
            let len = u32::from_le_bytes(rest[0..4].try_into().unwrap());
            let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
            if len > MAX_RECORD {
                return Err(torn(&format!("record length {len} is not plausible")));
            }
            let end = RECORD_HEADER + len as usize;
            if rest.len() < end {
                recovery.truncated_bytes = rest.len() as u64;
                break;
            }
            let payload = &rest[RECORD_HEADER..end];
            if crc32fast::hash(payload) != crc {
                if rest.len() == end {
                    // The last record, written partly before a crash: cut it.
                    recovery.truncated_bytes = rest.len() as u64;
                    break;
                }
                return Err(torn("checksum mismatch in the middle of the journal"));
            }
            let record = postcard::from_bytes(payload)
                .map_err(|e| torn(&format!("record does not decode ({e})")))?;
            records.push(record);
            pos += end;
        }
        if recovery.truncated_bytes > 0 {
            file.set_len(pos as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(Journal {
            path: path.to_owned(),
            file,
            records,
            recovery,
            _t: PhantomData,
        })
    }

    /// Appends one record and makes it durable before returning.
    pub fn append(&mut self, record: T) -> Result<(), ProfilerError> {
        let payload =
            postcard::to_stdvec(&record).map_err(|e| ProfilerError::Encode(e.to_string()))?;
        let mut buf = Vec::with_capacity(RECORD_HEADER + payload.len());
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        buf.extend_from_slice(&payload);
        let io = |source| ProfilerError::Io {
            path: self.path.display().to_string(),
            source,
        };
        self.file.write_all(&buf).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.records.push(record);
        Ok(())
    }

    pub fn records(&self) -> &[T] {
        &self.records
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Makes a new file's directory entry durable too.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgenas_format::Kind;

    fn header() -> FileHeader {
        FileHeader::new(Kind::TestJournal, 1)
    }

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("edgenas-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("j.bin")
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let p = tmp("torn");
        {
            let mut j: Journal<(u32, String)> = Journal::open(&p, header()).unwrap();
            for i in 0..5 {
                j.append((i, format!("record {i}"))).unwrap();
            }
        }
        let full = std::fs::metadata(&p).unwrap().len();
        // Cut the file at every byte inside the last record: the first four always survive.
        let bytes = std::fs::read(&p).unwrap();
        let last_len = 8 + postcard::to_stdvec(&(4u32, "record 4".to_string()))
            .unwrap()
            .len() as u64;
        for cut in (full - last_len + 1)..full {
            std::fs::write(&p, &bytes[..cut as usize]).unwrap();
            let j: Journal<(u32, String)> = Journal::open(&p, header()).unwrap();
            assert_eq!(j.records().len(), 4, "cut at {cut}");
            assert_eq!(j.records()[3], (3, "record 3".to_string()));
            assert_eq!(j.recovery.truncated_bytes, cut - (full - last_len));
            assert_eq!(std::fs::metadata(&p).unwrap().len(), full - last_len);
        }
        // After the cut, appending continues cleanly.
        let mut j: Journal<(u32, String)> = Journal::open(&p, header()).unwrap();
        j.append((9, "again".into())).unwrap();
        let j: Journal<(u32, String)> = Journal::open(&p, header()).unwrap();
        assert_eq!(j.records().len(), 5);
        assert_eq!(j.records()[4].0, 9);
        assert_eq!(j.recovery, Recovery::default());
    }

    #[test]
    fn corruption_in_the_middle_is_refused() {
        let p = tmp("mid");
        {
            let mut j: Journal<u64> = Journal::open(&p, header()).unwrap();
            for i in 0..3 {
                j.append(i * 1000).unwrap();
            }
        }
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[HEADER_LEN + 8] ^= 0xff; // first record's payload
        std::fs::write(&p, &bytes).unwrap();
        let err = Journal::<u64>::open(&p, header())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn a_file_of_another_kind_or_version_is_refused() {
        let p = tmp("kind");
        Journal::<u64>::open(&p, header()).unwrap();
        let err = Journal::<u64>::open(&p, FileHeader::new(Kind::Measurements, 1))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("test-journal"), "{err}");
        let err = Journal::<u64>::open(&p, FileHeader::new(Kind::TestJournal, 2))
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
}
