//! Writes an upload to a file on a blocking thread, one large buffer behind
//! the network: while one buffer is written, the next one fills (and is
//! hashed). Memory per upload is two buffers, whatever the object size.

use std::fs::File;
use std::io::{self, Write};

use tokio::task::JoinHandle;

/// Size of each write to the file.
const BUFFER: usize = 4 * 1024 * 1024;

pub struct BackgroundWriter {
    file: Option<File>,
    pending: Option<JoinHandle<io::Result<File>>>,
    buf: Vec<u8>,
}

impl BackgroundWriter {
    pub fn new(file: File) -> Self {
        BackgroundWriter {
            file: Some(file),
            pending: None,
            buf: Vec::with_capacity(BUFFER),
        }
    }

    pub async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = BUFFER - self.buf.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now);
            data = later;
            if self.buf.len() == BUFFER {
                self.start_write().await?;
            }
        }
        Ok(())
    }

    /// Wait for the file to be free (the previous write done).
    async fn file(&mut self) -> io::Result<File> {
        if let Some(pending) = self.pending.take() {
            return pending.await.map_err(io::Error::other)?;
        }
        self.file
            .take()
            .ok_or_else(|| io::Error::other("writer used after a failure"))
    }

    async fn start_write(&mut self) -> io::Result<()> {
        let mut file = self.file().await?;
        let buf = std::mem::replace(&mut self.buf, Vec::with_capacity(BUFFER));
        self.pending = Some(tokio::task::spawn_blocking(move || {
            file.write_all(&buf)?;
            Ok(file)
        }));
        Ok(())
    }

    /// Write what is buffered and fsync the file.
    pub async fn finish(mut self) -> io::Result<()> {
        let mut file = self.file().await?;
        let buf = std::mem::take(&mut self.buf);
        tokio::task::spawn_blocking(move || {
            file.write_all(&buf)?;
            file.sync_all()
        })
        .await
        .map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = BackgroundWriter::new(File::create(&path).unwrap());
        let mut expected = Vec::new();
        for i in 0..40u32 {
            let piece = vec![(i % 251) as u8; 300_001 + i as usize];
            w.write(&piece).await.unwrap();
            expected.extend_from_slice(&piece);
        }
        w.finish().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
