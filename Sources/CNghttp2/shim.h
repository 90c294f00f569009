#ifndef ARGO_PLUGIN_CNGHTTP2_SHIM_H
#define ARGO_PLUGIN_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
