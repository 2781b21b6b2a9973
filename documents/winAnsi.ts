/**
 * Text for PDF standard fonts. Helvetica and friends need no font file, but they only have the
 * WinAnsi (Windows-1252) characters, and pdfkit does not check: it writes any other code point as
 * garbage bytes. So text is brought into WinAnsi first, keeping as much of it as can be read.
 */

/** Code points outside Latin-1 that Windows-1252 has (in its 0x80–0x9F block). */
const WIN_ANSI_EXTRAS = new Set([
  0x20ac, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x017d,
  0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x017e, 0x0178,
]);

/** Letters and signs that do not decompose to a WinAnsi base, spelled as a reader would expect. */
const LOOKALIKES: Readonly<Record<string, string>> = {
  'Ł': 'L', 'ł': 'l', 'Đ': 'D', 'đ': 'd', 'Ħ': 'H', 'ħ': 'h', 'ı': 'i', 'Ŀ': 'L', 'ŀ': 'l',
  'ẞ': 'SS', 'Ŧ': 'T', 'ŧ': 't', 'Ŋ': 'N', 'ŋ': 'n', 'ĸ': 'k',
  '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2015': '-', '\u2212': '-',
  '\u2032': "'", '\u2033': '"', '\u2044': '/', '\u2116': 'No.',
};

export function isWinAnsi(codePoint: number): boolean {
  return (codePoint >= 0x20 && codePoint <= 0x7e) || (codePoint >= 0xa0 && codePoint <= 0xff) || WIN_ANSI_EXTRAS.has(codePoint);
}

const isCombiningMark = (char: string) => /\p{M}/u.test(char);
const isSpace = (char: string) => /\s/u.test(char);

function replacementOf(char: string): string {
  const lookalike = LOOKALIKES[char];
  if (lookalike !== undefined) return lookalike;
  if (isSpace(char)) return ' ';
  // "ř" → "r" + caron: keep the base letter, drop the marks WinAnsi has no room for.
  const decomposed = [...char.normalize('NFKD')].filter((part) => !isCombiningMark(part));
  if (decomposed.length > 0 && decomposed.every((part) => isWinAnsi(part.codePointAt(0)!))) return decomposed.join('');
  if (isCombiningMark(char)) return '';
  return '?';
}

/** `text` with every character outside WinAnsi replaced: a look-alike, its base letter, or "?". */
export function toWinAnsi(text: string): string {
  let result = '';
  // Composed first, so "e" + combining acute becomes the WinAnsi "é" rather than a bare "e".
  for (const char of text.normalize('NFC')) {
    result += isWinAnsi(char.codePointAt(0)!) ? char : replacementOf(char);
  }
  return result;
}
