/** The `tollgate` command: dispatches to subcommands. */
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`tollgate: unknown command ${argv[0] ?? ''}\n`);
  return 2;
}
