/**
 * The text of a PDF, read with pdf.js (Mozilla's reader, from npm) rather than a system tool, so
 * the tests need nothing installed on the machine. Each page's text items are joined with single
 * spaces, so a phrase wrapped across lines still reads as one.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getDocument, VerbosityLevel } from 'pdfjs-dist/legacy/build/pdf.mjs';

// pdf.js has no Helvetica of its own: it looks the standard fonts up here when it meets them.
const standardFontDataUrl = `${pathToFileURL(path.join(path.dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json')), 'standard_fonts')).href}/`;

export interface PdfText {
  pages: string[];
  /** All pages, joined. */
  text: string;
  info: Record<string, unknown>;
}

export async function pdfText(bytes: Uint8Array): Promise<PdfText> {
  // pdf.js takes ownership of (detaches) the buffer it is given: hand it a copy.
  const task = getDocument({ data: new Uint8Array(bytes), standardFontDataUrl, verbosity: VerbosityLevel.ERRORS, isEvalSupported: false });
  const pdf = await task.promise;
  try {
    const pages: string[] = [];
    for (let n = 1; n <= pdf.numPages; n++) {
      const content = await (await pdf.getPage(n)).getTextContent();
      const words = content.items.map((item) => ('str' in item ? item.str : '')).filter((s) => s.trim() !== '');
      pages.push(words.join(' ').replace(/\s+/g, ' '));
    }
    const { info } = await pdf.getMetadata();
    return { pages, text: pages.join(' '), info: info as Record<string, unknown> };
  } finally {
    await task.destroy();
  }
}
