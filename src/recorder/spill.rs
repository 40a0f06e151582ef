//! The recorder's overflow: an append-only JSONL file of rows that did not fit
//! in memory while the database was away. Read back in order; emptied once
//! everything in it is written. A row read twice (e.g. after a crash) is
//! harmless: every row is idempotent in the database.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::store::RecordRow;

pub struct Spill {
    path: PathBuf,
    /// Byte offset of the first row not yet handed back.
    read_at: u64,
    /// Rows appended and not yet read back.
    pending: u64,
}

impl Spill {
    /// Opens (or finds) the spill file; rows left by an earlier process are
    /// pending again.
    pub fn open(path: &Path) -> std::io::Result<Spill> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let pending = match File::open(path) {
            Ok(f) => BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter(|l| !l.trim().is_empty())
                .count() as u64,
            Err(_) => 0,
        };
        Ok(Spill {
            path: path.to_path_buf(),
            read_at: 0,
            pending,
        })
    }

    pub fn pending(&self) -> u64 {
        self.pending
    }

    pub fn append(&mut self, rows: &[RecordRow]) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut buf = String::new();
        for row in rows {
            buf.push_str(&serde_json::to_string(row).map_err(std::io::Error::other)?);
            buf.push('\n');
        }
        // One write per batch: a crash leaves at most a torn last line, which
        // `take` skips.
        f.write_all(buf.as_bytes())?;
        self.pending += rows.len() as u64;
        Ok(())
    }

    /// Up to `max` rows, oldest first.
    pub fn take(&mut self, max: usize) -> std::io::Result<Vec<RecordRow>> {
        let mut rows = Vec::new();
        if self.pending == 0 {
            return Ok(rows);
        }
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.read_at))?;
        let mut reader = BufReader::new(f);
        let mut line = String::new();
        while rows.len() < max {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            self.read_at += n as u64;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<RecordRow>(line.trim()) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "unreadable spilled row skipped")
                }
            }
            self.pending = self.pending.saturating_sub(1);
        }
        if rows.is_empty() {
            self.pending = 0;
        }
        Ok(rows)
    }

    /// Everything was read back and written: start the file afresh.
    pub fn reset_if_drained(&mut self) -> std::io::Result<()> {
        if self.pending == 0 && self.read_at > 0 {
            File::create(&self.path)?;
            self.read_at = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn row(seq: i64) -> RecordRow {
        RecordRow::Event {
            call_sid: "CA1".into(),
            seq,
            kind: "k".into(),
            payload: "{}".into(),
            at: Utc::now(),
        }
    }

    #[test]
    fn rows_come_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spill.jsonl");
        let mut s = Spill::open(&path).unwrap();
        s.append(&[row(1), row(2), row(3)]).unwrap();
        let got = s.take(2).unwrap();
        assert!(matches!(got[0], RecordRow::Event { seq: 1, .. }));
        assert!(matches!(got[1], RecordRow::Event { seq: 2, .. }));
        // A new process finds everything again (idempotent rows make that safe).
        let mut again = Spill::open(&path).unwrap();
        assert_eq!(again.pending(), 3);
        assert_eq!(s.take(10).unwrap().len(), 1);
        s.reset_if_drained().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert_eq!(again.take(10).unwrap().len(), 0);
    }

    #[test]
    fn a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spill.jsonl");
        let mut s = Spill::open(&path).unwrap();
        s.append(&[row(1)]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"Event\":{\"call_si")
            .unwrap();
        let mut s = Spill::open(&path).unwrap();
        assert_eq!(s.take(10).unwrap().len(), 1);
    }
}
