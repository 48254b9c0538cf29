import * as zlib from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CompressionAlgorithm,
  CompressionAlgorithmSchema,
  CompressOperation,
  CompressOperationSchema,
  CompressResultSchema,
  CompressTaskSchema,
} from "../../gen/noizylab/agent/v1/compress_pb.js";
import { checkEnum, checkRange } from "./task-errors.js";
import { defineTask } from "./task-handler.js";
import { decodeUtf8, inputBytes } from "./task-input.js";

// The synchronous forms: the task runs on a worker thread, which does the work itself and is
// stopped by a deadline (the asynchronous ones would hand it to libuv's shared thread pool,
// where nothing stops it, and where file and DNS requests queue behind it).
type Transform = (input: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer;

interface Format {
  readonly name: string;
  readonly maxLevel: number;
  readonly compress: (input: Buffer, level: number | undefined) => Buffer;
  readonly decompress: Transform;
}

const gzip = zlib.gzipSync as Transform;
const gunzip = zlib.gunzipSync as Transform;
const deflate = zlib.deflateSync as Transform;
const inflate = zlib.inflateSync as Transform;
const brotliCompress = zlib.brotliCompressSync as Transform;
const brotliDecompress = zlib.brotliDecompressSync as Transform;

const gzipFormat: Format = {
  name: "gzip",
  maxLevel: 9,
  compress: (input, level) => gzip(input, { level: level ?? 6 }),
  decompress: gunzip,
};

const formats: Record<CompressionAlgorithm, Format> = {
  [CompressionAlgorithm.UNSPECIFIED]: gzipFormat,
  [CompressionAlgorithm.GZIP]: gzipFormat,
  [CompressionAlgorithm.DEFLATE]: {
    name: "deflate",
    maxLevel: 9,
    compress: (input, level) => deflate(input, { level: level ?? 6 }),
    decompress: inflate,
  },
  [CompressionAlgorithm.BROTLI]: {
    name: "brotli",
    maxLevel: 11,
    compress: (input, level) =>
      brotliCompress(input, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: level ?? 11,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: input.byteLength,
        },
      }),
    decompress: brotliDecompress,
  },
};

function decompress(format: Format, input: Buffer, maxOutputBytes: number): Buffer {
  try {
    return format.decompress(input, { maxOutputLength: maxOutputBytes });
  } catch (cause) {
    if (cause instanceof RangeError) {
      // maxOutputLength keeps a compression bomb from inflating past the message limit.
      throw new ConnectError(
        `decompressed output exceeds the ${maxOutputBytes}-byte limit`,
        Code.ResourceExhausted,
      );
    }
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConnectError(
      `input is not valid ${format.name} data: ${reason}`,
      Code.InvalidArgument,
    );
  }
}

/** compressTask compresses bytes with gzip, deflate or brotli, or decompresses them. */
export const compressTask = defineTask({
  field: "compress",
  description:
    "Compresses or decompresses with gzip, deflate or brotli, reporting sizes and ratio.",
  requestSchema: CompressTaskSchema,
  resultSchema: CompressResultSchema,
  cost: "heavy",
  validate(input, path) {
    checkEnum(`${path}.algorithm`, input.algorithm, CompressionAlgorithmSchema);
    checkEnum(`${path}.operation`, input.operation, CompressOperationSchema);
    if (input.level !== undefined) {
      checkRange(`${path}.level`, input.level, 0, formats[input.algorithm].maxLevel);
    }
  },
  async run(input, { maxOutputBytes }) {
    const format = formats[input.algorithm];
    const bytes = inputBytes(input.input);
    const decompressing = input.operation === CompressOperation.DECOMPRESS;
    const output = decompressing
      ? decompress(format, bytes, maxOutputBytes)
      : format.compress(bytes, input.level);
    const [compressed, uncompressed] = decompressing ? [bytes, output] : [output, bytes];
    return create(CompressResultSchema, {
      data: output,
      text: decompressing ? (decodeUtf8(output) ?? "") : "",
      inputBytes: BigInt(bytes.byteLength),
      outputBytes: BigInt(output.byteLength),
      ratio: uncompressed.byteLength === 0 ? 0 : compressed.byteLength / uncompressed.byteLength,
    });
  },
});
