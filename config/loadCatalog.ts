/** Reads the plan catalog file named by TOLLGATE_CATALOG (default config/catalog.json) and validates it. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CatalogError, parseCatalog, type Catalog } from '../billing/catalog.js';

export const DEFAULT_CATALOG_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'catalog.json');

export function loadCatalog(file = process.env.TOLLGATE_CATALOG ?? DEFAULT_CATALOG_PATH): Catalog {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CatalogError([`cannot read the file: ${(error as Error).message}`], file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CatalogError([`not valid JSON: ${(error as Error).message}`], file);
  }
  return parseCatalog(json, file);
}
