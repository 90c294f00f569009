import FuzzEntries
import Foundation

// The fuzz targets of FuzzEntries, one binary for all: FUZZ_TARGET names the one to run.
//   Built with -sanitize=fuzzer,address -DFUZZING (scripts/fuzz.sh): a libFuzzer binary,
//     FUZZ_TARGET=config plugin-fuzz CORPUS_DIR -max_total_time=60
//   Built plainly: replays inputs, `plugin-fuzz TARGET FILE...` (a crash found, checked again).

#if FUZZING
nonisolated(unsafe) var selected: FuzzTarget = .deframer

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    guard let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"], let t = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("set FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    selected = t
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// This executable's main is Swift's (SwiftPM links it so); it hands over to libFuzzer's driver.
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
#else
let args = CommandLine.arguments.dropFirst()
guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
    print("usage: plugin-fuzz TARGET FILE...   (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
    exit(2)
}
for path in args.dropFirst() {
    guard let data = FileManager.default.contents(atPath: path) else {
        print("cannot read \(path)")
        exit(1)
    }
    target.run([UInt8](data))
    print("\(path): ok")
}
#endif
