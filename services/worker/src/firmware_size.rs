//! An ELF's `text`, `data` and `bss` the way `size` (Berkeley format)
//! counts them, read with the `object` crate from the file's section
//! headers: no tool output to parse, and the same answer on any host. And
//! its largest symbols from the symbol table, for a size diff by symbol.

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind};
use testarena_events::{FirmwareSize, SymbolSize, MAX_FIRMWARE_SYMBOLS, MAX_SYMBOL_NAME};

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

/// The ELF's largest functions and objects (defined, with a size), largest
/// first, ties by name, at most [`MAX_FIRMWARE_SYMBOLS`]; empty for an ELF
/// without a symbol table (stripped).
pub(crate) fn firmware_symbols(data: &[u8]) -> Result<Vec<SymbolSize>, ElfSizeError> {
    let mut symbols = match FileKind::parse(data).map_err(|_| ElfSizeError::NotElf)? {
        FileKind::Elf32 => read_symbols::<elf::FileHeader32<Endianness>>(data)?,
        FileKind::Elf64 => read_symbols::<elf::FileHeader64<Endianness>>(data)?,
        _ => return Err(ElfSizeError::NotElf),
    };
    largest_first(&mut symbols);
    Ok(symbols)
}

fn read_symbols<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<Vec<SymbolSize>, ElfSizeError> {
    use object::read::elf::Sym;
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let table = sections.symbols(endian, data, elf::SHT_SYMTAB)?;
    let mut symbols = Vec::new();
    for symbol in table.iter() {
        let kind = symbol.st_type();
        let size: u64 = symbol.st_size(endian).into();
        let defined = symbol.st_shndx(endian) != elf::SHN_UNDEF;
        if !matches!(kind, elf::STT_FUNC | elf::STT_OBJECT) || size == 0 || !defined {
            continue;
        }
        let name = String::from_utf8_lossy(table.symbol_name(endian, symbol)?);
        symbols.push(SymbolSize {
            name: cut(&name, MAX_SYMBOL_NAME),
            size,
        });
    }
    Ok(symbols)
}

/// Pure: largest first, ties by name, the first [`MAX_FIRMWARE_SYMBOLS`].
pub(crate) fn largest_first(symbols: &mut Vec<SymbolSize>) {
    symbols.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    symbols.truncate(MAX_FIRMWARE_SYMBOLS);
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
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
    fn symbols_are_kept_largest_first_and_bounded() {
        let mut symbols: Vec<SymbolSize> = (0..600u64)
            .map(|i| SymbolSize {
                name: format!("s{i:03}"),
                size: i % 300,
            })
            .collect();
        largest_first(&mut symbols);
        assert_eq!(symbols.len(), MAX_FIRMWARE_SYMBOLS);
        assert_eq!((symbols[0].name.as_str(), symbols[0].size), ("s299", 299));
        assert_eq!(symbols[1].name, "s599", "ties by name");
        assert_eq!(cut("aé", 2), "a");
    }

    #[test]
    fn the_workers_own_binary_has_sized_functions() {
        let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let symbols = firmware_symbols(&own).unwrap();
        assert!(!symbols.is_empty());
        assert!(symbols.windows(2).all(|w| w[0].size >= w[1].size));
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
