//! An ELF's `text`, `data` and `bss` the way `size` (Berkeley format)
//! counts them, read with the `object` crate from the file's section
//! headers: no tool output to parse, and the same answer on any host.

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind};
use testarena_events::FirmwareSize;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ElfSizeError {
    #[error("not an ELF file")]
    NotElf,
    #[error("malformed ELF: {0}")]
    Malformed(#[from] object::read::Error),
}

/// Which of the three sums a section adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Text,
    Data,
    Bss,
}

/// binutils' `berkeley_sum`: only allocated sections count; code or
/// read-only is text, else with contents is data, else bss.
pub(crate) fn classify(sh_flags: u64, sh_type: u32) -> Option<Part> {
    let has = |flag: u32| sh_flags & u64::from(flag) != 0;
    if !has(elf::SHF_ALLOC) {
        return None;
    }
    Some(if has(elf::SHF_EXECINSTR) || !has(elf::SHF_WRITE) {
        Part::Text
    } else if sh_type != elf::SHT_NOBITS {
        Part::Data
    } else {
        Part::Bss
    })
}

/// The section sizes of an ELF image (32 or 64 bits, either endianness).
pub(crate) fn firmware_size(data: &[u8]) -> Result<FirmwareSize, ElfSizeError> {
    match FileKind::parse(data).map_err(|_| ElfSizeError::NotElf)? {
        FileKind::Elf32 => sum_sections::<elf::FileHeader32<Endianness>>(data),
        FileKind::Elf64 => sum_sections::<elf::FileHeader64<Endianness>>(data),
        _ => Err(ElfSizeError::NotElf),
    }
}

fn sum_sections<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<FirmwareSize, ElfSizeError> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let mut size = FirmwareSize::default();
    for section in header.sections(endian, data)?.iter() {
        let flags: u64 = section.sh_flags(endian).into();
        let bytes: u64 = section.sh_size(endian).into();
        match classify(flags, section.sh_type(endian)) {
            Some(Part::Text) => size.text += bytes,
            Some(Part::Data) => size.data += bytes,
            Some(Part::Bss) => size.bss += bytes,
            None => {}
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOC: u64 = elf::SHF_ALLOC as u64;
    const WRITE: u64 = elf::SHF_WRITE as u64;
    const EXEC: u64 = elf::SHF_EXECINSTR as u64;

    #[test]
    fn sections_are_summed_as_berkeley_size_does() {
        assert_eq!(classify(ALLOC | EXEC, elf::SHT_PROGBITS), Some(Part::Text));
        assert_eq!(classify(ALLOC, elf::SHT_PROGBITS), Some(Part::Text));
        assert_eq!(classify(ALLOC | WRITE, elf::SHT_PROGBITS), Some(Part::Data));
        assert_eq!(
            classify(ALLOC | WRITE, elf::SHT_INIT_ARRAY),
            Some(Part::Data)
        );
        assert_eq!(classify(ALLOC | WRITE, elf::SHT_NOBITS), Some(Part::Bss));
        assert_eq!(classify(0, elf::SHT_PROGBITS), None, "debug info");
        assert_eq!(classify(0, elf::SHT_SYMTAB), None);
    }

    #[test]
    fn a_file_that_is_not_elf_says_so() {
        assert!(matches!(
            firmware_size(b"#!/bin/sh\necho not a firmware\n"),
            Err(ElfSizeError::NotElf)
        ));
        assert!(firmware_size(b"\x7fELF\x01\x01\x01").is_err());
    }
}
