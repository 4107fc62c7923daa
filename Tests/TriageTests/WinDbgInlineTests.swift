// WinDbg's inlined frames: `(Inline Function)` rows with `--------` placeholders are frames.

import Triage
import XCTest

final class WinDbgInlineTests: XCTestCase {
    /// `!analyze -v`: the string function's caller is inlined; its row has no Child-SP, RetAddr or arguments.
    func testInlinedCallerOfAFaultingMemcpy() throws {
        let text = """
        ExceptionAddress: 00007ffc1b3c1a1a (VCRUNTIME140!memcpy+0x000000000000001a)
           ExceptionCode: c0000005 (Access violation)
        STACK_TEXT:  
        000000e2`1c1ff5d8 00007ff6`4e3e1234     : 00000000`00000000 00000000`00000010 00000000`00000000 00000000`00000008 : VCRUNTIME140!memcpy+0x1a
        (Inline Function) --------`--------     : --------`-------- --------`-------- --------`-------- --------`-------- : unit_tests!_ebpf_map_copy_value+0x12 [C:\\a\\ebpf-for-windows\\libs\\execution_context\\ebpf_maps.c @ 512]
        000000e2`1c1ff5e0 00007ff6`4e3e5678     : 00000000`00000000 00000000`00000000 00000000`00000000 00000000`00000000 : unit_tests!ebpf_map_get_next_key_and_value_batch+0x1c1 [C:\\a\\ebpf-for-windows\\libs\\execution_context\\ebpf_maps.c @ 2230]

        FAILURE_BUCKET_ID:  NULL_POINTER_READ_c0000005_VCRUNTIME140.dll!memcpy
        """
        let r = try Triage.reports(inText: text, file: "analyze.txt")
        XCTAssertEqual(r.map(\.title), ["access violation in memcpy from _ebpf_map_copy_value"])
    }

    /// `~*kb` on x64: the inline row has placeholders for the arguments as well.
    func testInlineRowInAKbThreadStack() throws {
        let text = """
        0:000> ~*kb
        .  0  Id: 1a2c.1a30 Suspend: 0 Teb: 000000e2`1b7a4000 Unfrozen
         # Child-SP          RetAddr               : Args to Child                                                           : Call Site
        00 000000e2`1b9fe9b8 00007ffc`1a9c1b5e     : 00000000`00000128 00000000`00000000 00000000`00000000 00000000`00000000 : ntdll!NtWaitForSingleObject+0x14
        01 000000e2`1b9fe9c0 00007ff6`4e2d3a11     : 00000000`00000128 00000000`ffffffff 00000000`00000000 00000000`00000000 : KERNELBASE!WaitForSingleObjectEx+0x8e
        02 (Inline Function) --------`--------     : --------`-------- --------`-------- --------`-------- --------`-------- : app!wait_for_peer+0x1b [C:\\src\\app.c @ 40]
        03 000000e2`1b9fea60 00007ff6`4e2a0b57     : 00000000`00000001 00000000`00000000 00000000`00000000 00000000`00000000 : app!peer_loop+0x9 [C:\\src\\app.c @ 77]
        04 000000e2`1b9fed00 00007ff6`4e60e0c7     : 00000000`00000001 00000000`00000000 00000000`00000000 00000000`00000000 : app!main+0x2d [C:\\src\\app.c @ 90]
        """
        let r = try Triage.reports(inText: text, file: "kb.txt")
        XCTAssertEqual(r.map(\.title), ["hang in wait_for_peer"])
    }
}
