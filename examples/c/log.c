/* log.c - skiff/log.h: route the library's log to the program's own logger
 * and pick how much of it to keep.
 *
 *     cc log.c $(pkg-config --cflags --libs skiff) -o log && ./log [model.onnx]
 */
#include <stdio.h>
#include <string.h>

#include <skiff/engine.h>
#include <skiff/log.h>

struct my_logger {
    FILE *out;
    int lines;
};

/* Called one at a time, on whichever thread logged. */
static void to_my_logger(skiff_log_level_t level, const char *message, void *user)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct my_logger *lg = user;
    fprintf(lg->out, "[skiff %s] %s\n", names[level <= SKIFF_LOG_ERROR ? level : SKIFF_LOG_ERROR],
            message);
    lg->lines++;
}

int main(int argc, char **argv)
{
    struct my_logger lg = {stdout, 0};
    skiff_log_set_sink(to_my_logger, &lg);
    skiff_log_set_level(SKIFF_LOG_INFO);

    /* Loading a model logs what the graph passes did, at INFO. */
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load(argc > 1 ? argv[1] : "model.onnx", NULL, &m);
    if (st) {
        fprintf(stderr, "%s\n", skiff_status_message(st));
        skiff_status_free(st);
        skiff_log_set_sink(NULL, NULL);
        return 1;
    }
    skiff_model_free(m);
    int at_info = lg.lines;

    /* At ERROR, the same load says nothing. */
    skiff_log_set_level(SKIFF_LOG_ERROR);
    st = skiff_model_load(argc > 1 ? argv[1] : "model.onnx", NULL, &m);
    skiff_model_free(m);
    skiff_status_free(st);

    skiff_log_set_sink(NULL, NULL); /* back to stderr; to_my_logger is not called again */
    printf("%d lines at INFO, %d at ERROR\n", at_info, lg.lines - at_info);
    return at_info > 0 && lg.lines == at_info ? 0 : 1;
}
