#ifndef ARGO_PLUGIN_CCURL_SHIM_H
#define ARGO_PLUGIN_CCURL_SHIM_H
#include <curl/curl.h>
#include <sys/types.h>

/* curl_easy_setopt / curl_easy_getinfo / curl_multi_setopt are variadic and cannot be
   imported into Swift; these typed forms are the only way Swift calls them. */

static inline CURLcode argo_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode argo_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode argo_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode argo_easy_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode argo_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode argo_easy_setopt_blob(CURL *h, CURLoption o, struct curl_blob *v) { return curl_easy_setopt(h, o, v); }

typedef size_t (*argo_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
typedef int (*argo_curl_xferinfo_cb)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
typedef int (*argo_curl_seek_cb)(void *userdata, curl_off_t offset, int origin);

static inline CURLcode argo_easy_setopt_write_cb(CURL *h, argo_curl_data_cb cb) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb); }
static inline CURLcode argo_easy_setopt_read_cb(CURL *h, argo_curl_data_cb cb) { return curl_easy_setopt(h, CURLOPT_READFUNCTION, cb); }
static inline CURLcode argo_easy_setopt_header_cb(CURL *h, argo_curl_data_cb cb) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb); }
static inline CURLcode argo_easy_setopt_xferinfo_cb(CURL *h, argo_curl_xferinfo_cb cb) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb); }
static inline CURLcode argo_easy_setopt_seek_cb(CURL *h, argo_curl_seek_cb cb) { return curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, cb); }

static inline CURLcode argo_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode argo_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode argo_easy_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode argo_easy_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode argo_easy_getinfo_pointer(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }

static inline CURLMcode argo_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

/* Magic return values are macros of expressions Swift does not import. */
static inline size_t argo_curl_readfunc_pause(void) { return CURL_READFUNC_PAUSE; }
static inline size_t argo_curl_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
static inline long argo_curl_global_all(void) { return CURL_GLOBAL_ALL; }
#endif
