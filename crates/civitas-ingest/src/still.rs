//! Still images as a source: one file, a list, or every JPEG/PNG in a folder (sorted).

use crate::{FrameSource, IMAGE_EXTENSIONS, SourcedFrame, load_image};
use civitas_base::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct StillSource {
    files: Vec<PathBuf>,
    next: usize,
}

impl StillSource {
    pub fn files(files: Vec<PathBuf>) -> Self {
        StillSource { files, next: 0 }
    }

    pub fn folder(dir: &Path) -> Result<Self> {
        let rd = std::fs::read_dir(dir)
            .map_err(|e| Error::unreadable(format!("{}: cannot list folder", dir.display()), e))?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(format!(
                "{}: folder holds no JPEG or PNG images",
                dir.display()
            )));
        }
        Ok(StillSource::files(files))
    }
}

impl FrameSource for StillSource {
    fn next_frame(&mut self) -> Result<Option<SourcedFrame>> {
        let Some(p) = self.files.get(self.next) else {
            return Ok(None);
        };
        let i = self.next;
        self.next += 1;
        Ok(Some(SourcedFrame {
            arrived: std::time::Instant::now(),
            image: load_image(p)?,
            offset_ms: 0,
            index: i as u64,
            label: p.display().to_string(),
        }))
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.files.len() as u64)
    }
}
