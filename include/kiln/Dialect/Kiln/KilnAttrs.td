//===- KilnAttrs.td - Kiln dialect attributes -----------------*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The attributes that describe a compiled module's entry points to the
// runtime. They are IR: passes read and update them with typed accessors,
// and the manifest text the runtime reads is written from them once, at the
// end of code generation.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ATTRS_TD
#define KILN_ATTRS_TD

include "kiln/Dialect/Kiln/KilnBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

class Kiln_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Kiln_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Kiln_BindingAttr : Kiln_Attr<"Binding", "binding"> {
  let summary = "A variable that an entry point binds";
  let description = [{
    Names a variable (`kiln.variable`), gives its type, and says whether the
    entry point only reads it or also assigns it (the runtime's buffer is
    then updated in place).

    ```mlir
    #kiln.binding<@w : tensor<784x128xf32>, read_write>
    ```
  }];
  let parameters = (ins "::mlir::FlatSymbolRefAttr":$variable,
                        "::mlir::RankedTensorType":$type,
                        EnumParameter<Kiln_AccessKind>:$access);
  let assemblyFormat = "`<` $variable `:` $type `,` $access `>`";
  let extraClassDeclaration = [{
    /// Whether the entry point assigns the variable.
    bool isWritten() const { return getAccess() == Access::read_write; }
  }];
}

def Kiln_EntryAttr : Kiln_Attr<"Entry", "entry"> {
  let summary = "The signature of an entry point, as the runtime sees it";
  let description = [{
    Recorded on every entry point by `kiln-prepare-entry-points` while its
    signature is still made of tensors, updated by later passes and written
    out as the module's manifest by `kiln-emit-entry-points`:

    - `inputs`, `outputs`: the tensor types of the arguments the caller
      passes and of the results it receives (`?` for an extent known at
      call time);
    - `variables`: the variables the entry binds (`#kiln.binding`), in the
      order of its trailing arguments;
    - `checks`: the messages of the run-time shape checks that its shape
      function makes (`kiln-split-shape-functions`), in order;
    - `device`: the kind of device the code runs on.

    ```mlir
    func.func @step(...) attributes {kiln.entry = #kiln.entry<
        inputs = [tensor<?x784xf32>, tensor<?xi32>], outputs = [tensor<f32>],
        variables = [#kiln.binding<@w : tensor<784x10xf32>, read_write>],
        checks = ["dimension 0 of operand #1 does not match"], device = cpu>}
    ```
  }];
  let parameters = (ins "::mlir::ArrayAttr":$inputs,
                        "::mlir::ArrayAttr":$outputs,
                        "::mlir::ArrayAttr":$variables,
                        "::mlir::ArrayAttr":$checks,
                        EnumParameter<Kiln_DeviceKind>:$device);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "::mlir::TypeRange":$inputs, "::mlir::TypeRange":$outputs,
                     "::llvm::ArrayRef<::mlir::kiln::BindingAttr>":$variables,
                     "::llvm::ArrayRef<::llvm::StringRef>":$checks,
                     "::mlir::kiln::Device":$device)>
  ];
  let extraClassDeclaration = [{
    /// The inputs' and outputs' tensor types.
    ::llvm::SmallVector<::mlir::RankedTensorType> getInputTypes() const;
    ::llvm::SmallVector<::mlir::RankedTensorType> getOutputTypes() const;
    /// The bound variables, in argument order.
    ::llvm::SmallVector<::mlir::kiln::BindingAttr> getBindings() const;
    /// The check messages, in order.
    ::llvm::SmallVector<::llvm::StringRef> getCheckMessages() const;
    /// This entry with `messages` appended to its checks.
    EntryAttr withChecks(::llvm::ArrayRef<::llvm::StringRef> messages) const;
    /// Whether an input or output has an extent known only at call time.
    bool hasOpenExtents() const;
  }];
}

#endif // KILN_ATTRS_TD
