//! A build cache entry as one file, to travel as one object of the shared
//! bucket: a plain tar of its regular files at their paths. Unpacking
//! takes regular files only, each inside the target folder: the bucket is
//! written by other hosts, so an archive is not trusted to stay inside.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::Path;

use crate::artifact_files::files_under;

/// Writes every file of the entry folder `entry` into the archive `archive`;
/// the number of files.
pub(crate) fn pack(entry: &Path, archive: &Path) -> std::io::Result<usize> {
    let files = files_under(entry, None);
    let mut builder = tar::Builder::new(BufWriter::new(File::create(archive)?));
    builder.follow_symlinks(false);
    for file in &files {
        builder.append_path_with_name(&file.path, &file.name)?;
    }
    let mut out = builder.into_inner()?;
    out.flush()?;
    out.get_ref().sync_all()?;
    Ok(files.len())
}

/// Unpacks the regular files of `archive` into the folder `into` (made
/// if missing); the number of files. An entry that is not a regular file
/// or would land outside `into` is refused, and the whole archive with it.
pub(crate) fn unpack(archive: &Path, into: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(into)?;
    let mut tar = tar::Archive::new(BufReader::new(File::open(archive)?));
    let mut files = 0;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(refused(&path, "is not a regular file"));
        }
        if !entry.unpack_in(into)? {
            return Err(refused(&path, "would land outside the cache entry"));
        }
        files += 1;
    }
    Ok(files)
}

fn refused(path: &Path, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("build archive entry {} {why}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_comes_back_file_for_file() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("entry");
        std::fs::create_dir_all(entry.join("build/tests")).unwrap();
        std::fs::write(entry.join("build/fw.elf"), b"\x7fELF firmware").unwrap();
        std::fs::write(entry.join("build/tests/aes.elf"), vec![7u8; 70_000]).unwrap();
        let archive = dir.path().join("entry.tar");
        assert_eq!(pack(&entry, &archive).unwrap(), 2);

        let back = dir.path().join("back");
        assert_eq!(unpack(&archive, &back).unwrap(), 2);
        let read = |p: &str| std::fs::read(back.join(p)).unwrap();
        assert_eq!(read("build/fw.elf"), b"\x7fELF firmware");
        assert_eq!(read("build/tests/aes.elf"), vec![7u8; 70_000]);
    }

    #[test]
    fn a_link_in_an_archive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("hostile.tar");
        let mut builder = tar::Builder::new(File::create(&archive).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, "build/fw.elf", "/etc/passwd")
            .unwrap();
        builder.finish().unwrap();
        drop(builder);

        let error = unpack(&archive, &dir.path().join("into")).unwrap_err();
        assert!(
            error.to_string().contains("is not a regular file"),
            "{error}"
        );
    }
}
