<#ftl output_format="plainText">
<#-- Fails on purpose: resetqUndefinedVariable is not in the model. -->
${resetqUndefinedVariable}
