/* cli.h - subcommands of the skiff executable. Each takes argv with argv[0]
 * the subcommand name and returns the process exit status. */
#ifndef SKIFF_CLI_H
#define SKIFF_CLI_H

int skiff__cmd_run(int argc, char **argv);
int skiff__cmd_serve(int argc, char **argv);
int skiff__cmd_pipeline(int argc, char **argv);
int skiff__cmd_convert(int argc, char **argv);
int skiff__cmd_predict(int argc, char **argv);
int skiff__cmd_quantize(int argc, char **argv);

#endif
