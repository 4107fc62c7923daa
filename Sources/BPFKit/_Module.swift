// module BPFKit
