//! Writing files whole: a plan (or any output file) is either all there or not changed
//! at all, never half written by a crash or a full disk. A target that exists and is
//! not a regular file (`/dev/null`, a FIFO from `-o >(jq .)`, a terminal) is written
//! through, never replaced.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Write `text` to `path` whole or not at all: a temporary file beside it, then a rename.
/// When `path` exists and is not a regular file (a device, a FIFO, a socket), the text
/// is written through it instead: a rename would replace `/dev/null` itself with a
/// regular file, and every other program on the machine would break (root may do it).
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let fail = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    // Symbolic links are followed: `/dev/stdout` is a link to what the output is.
    if let Ok(target) = std::fs::metadata(path)
        && !target.is_file()
        && !target.is_dir()
    {
        let mut through = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(fail)?;
        through.write_all(text.as_bytes()).map_err(fail)?;
        return through.flush().map_err(fail);
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|err| fail(err.error))?;
    Ok(())
}
