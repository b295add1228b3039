/**
 * A failure the CLI reports as one line on stderr and an exit code, without a stack trace:
 * the user can act on it (sign in again, fix a file mode, pass --host). Never carries a token.
 */
export class CliError extends Error {
  constructor(
    message: string,
    /**
     * 1: the operation failed; 2: the command line was wrong; as shells do for a command run,
     * 127: not found, 126: found but cannot be run.
     */
    readonly exitCode: 1 | 2 | 126 | 127 = 1,
  ) {
    super(message);
  }
}
