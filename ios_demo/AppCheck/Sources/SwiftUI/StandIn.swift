// Stand-in of SwiftUI for the Linux type-check (see Package.swift): the checked files import it but use none of it.
public enum SwiftUIStandIn {}
