/* status_tables.c - core's status.c once more, for libskiff_client.so only
 * (CMakeLists.txt): the library takes skiff_status_* from libskiff.so, so a
 * status it returns is the caller's skiff_status_free's own kind (even the
 * static out-of-memory one); this copy supplies the internal code tables
 * (skiff__code_*) that the codecs use, its public names renamed away. */
#define skiff_status_new skiff__client_st_new
#define skiff_status_wrap skiff__client_st_wrap
#define skiff_status_code skiff__client_st_code
#define skiff_status_message skiff__client_st_message
#define skiff_status_free skiff__client_st_free
#define skiff_code_name skiff__client_code_name
#define skiff_code_http_status skiff__client_code_http
#define skiff_code_grpc_status skiff__client_code_grpc
#include "core/status.c"
