/// What a failed certificate check means for the person who configured the store, from
/// OpenSSL's verification result (CURLINFO_SSL_VERIFYRESULT: 62/64 a host name or IP address the
/// certificate does not name; 0 or 1 (unspecified) when the chain verified and curl's own host
/// check failed, as with libcurl 7.88 and OpenSSL 3.0).
enum TLSVerification {
    static let otherHost = " (the certificate is valid but does not name the endpoint's host: use a host name it was issued for)"

    static func hint(verifyResult v: Int, peerVerificationFailed: Bool) -> String {
        switch v {
        case 10: return " (the store's certificate has expired)"
        case 9: return " (the store's certificate is not valid yet: check the clocks)"
        case 2, 18, 19, 20, 21:
            return " (the store's certificate is not signed by a CA the plugin trusts: give that CA in caSecret)"
        case 23: return " (the store's certificate was revoked)"
        case 62, 64: return otherHost
        case 0 where peerVerificationFailed, 1 where peerVerificationFailed: return otherHost
        default: return ""
        }
    }
}
