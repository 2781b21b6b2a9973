/**
 * Undoes a request body's `Content-Encoding`. The decoded size is bounded (zlib's maxOutputLength)
 * so a small compressed body cannot expand into gigabytes: past the limit it is a 413, like a
 * large plain body. A body that is not what its encoding says is the client's mistake: 400.
 */
import zlib from 'node:zlib';
import { ApiError } from '../errors.js';

type Decoder = (input: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions, callback: (error: Error | null, result: Buffer) => void) => void;

const DECODERS: Readonly<Record<string, Decoder>> = {
  gzip: zlib.gunzip,
  'x-gzip': zlib.gunzip,
  deflate: zlib.inflate,
  br: zlib.brotliDecompress,
};

export const SUPPORTED_ENCODINGS = ['identity', ...Object.keys(DECODERS)] as const;

/** Throws 415 for an encoding this server cannot undo; returns undefined for identity. */
export function decoderFor(header: string | undefined): Decoder | undefined {
  const encoding = (header ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return undefined;
  const decoder = DECODERS[encoding];
  if (!decoder) {
    throw new ApiError(415, 'unsupported_media_type', `Content-Encoding "${header}" is not supported; send one of ${SUPPORTED_ENCODINGS.join(', ')}.`);
  }
  return decoder;
}

export function decodeContentEncoding(decoder: Decoder, input: Buffer, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    decoder(input, { maxOutputLength: maxBytes }, (error, result) => {
      if (!error) return resolve(result);
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        return reject(new ApiError(413, 'payload_too_large', `The decoded request body is larger than ${maxBytes} bytes.`));
      }
      reject(new ApiError(400, 'invalid_content_encoding', 'The request body could not be decoded with its Content-Encoding.'));
    });
  });
}
